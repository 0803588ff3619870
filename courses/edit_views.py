"""Requesters fix their own private course: edit a lesson (markdown with a live preview) or regenerate a
lesson, a quiz or a week within their daily allowance. Their edits are screened like generated text, and only
moderators publish. Moderators use the same services from the admin (`courses.admin_views`).
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from courses import editing, moderation, regeneration
from courses.access import course_readable
from courses.admin_forms import LessonForm, RegenerateForm
from courses.models import Course, Lesson, Quiz, Week
from courses.rendering import markdown_to_safe_html

PREVIEW_MAX_CHARS = 200_000
SAVED_MESSAGE = "Saved. The earlier version is kept, and a moderator may review your change."
REGENERATING_MESSAGE = "Writing {count} part(s) again; reload the page in a minute to read the new version."


def _editable_course(request: HttpRequest, course_id: str) -> tuple[Course, User]:
    course = course_readable(request, get_object_or_404(Course, pk=course_id))  # a held course says why
    user = cast(User, request.user)
    if not editing.course_editable_by(course=course, user=user):
        raise PermissionDenied(regeneration.NOT_ALLOWED_MESSAGE)
    return course, user


@login_required
def lesson_edit(request: HttpRequest, course_id: str, lesson_id: int) -> HttpResponse:
    course, user = _editable_course(request, course_id)
    lesson = get_object_or_404(Lesson.objects.select_related("week"), pk=lesson_id, course=course)
    form = LessonForm(request.POST or None, initial={"title": lesson.title, "body": lesson.body})
    if request.method == "POST" and form.is_valid():
        try:
            editing.part_edit(part=lesson, changes=form.changes(), actor=user, note=form.cleaned_data["note"])
        except moderation.ModerationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, SAVED_MESSAGE)
            return redirect("delivery:lesson", course.pk, lesson.pk)
    context = {"course": course, "lesson": lesson, "form": form, "regenerate_form": RegenerateForm()}
    return render(request, "moderation/lesson_edit.html", context)


@login_required
@require_POST
def part_regenerate(request: HttpRequest, course_id: str, kind: str, part_id: int) -> HttpResponse:
    course, user = _editable_course(request, course_id)
    if kind not in moderation.PART_MODELS:
        raise Http404
    found = get_object_or_404(
        moderation.PART_MODELS[kind].objects.select_related("course"), pk=part_id, course=course
    )
    part = cast(Week | Lesson | Quiz, found)
    form = RegenerateForm(request.POST)
    instruction = form.cleaned_data["instruction"] if form.is_valid() else ""
    try:
        count = regeneration.part_regenerate_request(part=part, actor=user, instruction=instruction)
    except moderation.ModerationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, REGENERATING_MESSAGE.format(count=count))
    if kind == "lesson":  # back to the lesson, where its new version will show
        return redirect("delivery:lesson", course.pk, part.pk)
    return redirect(course)


@login_required
@require_POST
def markdown_preview(request: HttpRequest) -> HttpResponse:
    """The editors' live preview (the requester's here, the admin's through `admin_views.routes`): the renderer
    and sanitizer every page uses."""
    text = request.POST.get("text", "")[:PREVIEW_MAX_CHARS]
    return HttpResponse(markdown_to_safe_html(text), content_type="text/html; charset=utf-8")
