"""Learners' side of moderation. Anyone who may read a lesson reports it from its page; a requester fixes their
own private course: edit a lesson (markdown with a live preview) or regenerate a lesson, a quiz or a week within
their daily allowance. Their edits are screened like generated text, and only
moderators publish. Moderators use the same services from the admin (`courses.admin.views`).
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
from courses import visibility
from courses.models import Course, Lesson, LessonReport, Quiz, Week
from courses.moderation import editing, regeneration, review
from courses.moderation.forms import (
    MARKDOWN_MAX_CHARS,
    MARKDOWN_TOO_LONG,
    LessonForm,
    RegenerateForm,
    ReportForm,
)
from courses.rendering import markdown_to_safe_html
from courses.visibility import course_readable
from school.http import client_ip
from school.ratelimit import rate_limit_hit, rate_limit_key

SAVED_MESSAGE = "Saved. The earlier version is kept, and a moderator may review your change."
REGENERATING_MESSAGE = "Writing {count} part(s) again; reload the page in a minute to read the new version."


def _editable_course(request: HttpRequest, course_id: str) -> tuple[Course, User]:
    course = course_readable(request, get_object_or_404(Course, pk=course_id))  # a held course says why
    user = cast(User, request.user)
    if not visibility.course_editable_by(course=course, user=user):
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
        except review.ModerationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, SAVED_MESSAGE)
            return redirect(lesson)
    context = {"course": course, "lesson": lesson, "form": form, "regenerate_form": RegenerateForm()}
    return render(request, "moderation/lesson_edit.html", context)


@login_required
@require_POST
def part_regenerate(request: HttpRequest, course_id: str, kind: str, part_id: int) -> HttpResponse:
    course, user = _editable_course(request, course_id)
    if kind not in review.PART_MODELS:
        raise Http404
    found = get_object_or_404(
        review.PART_MODELS[kind].objects.select_related("course"), pk=part_id, course=course
    )
    part = cast(Week | Lesson | Quiz, found)
    form = RegenerateForm(request.POST)
    instruction = form.cleaned_data["instruction"] if form.is_valid() else ""
    try:
        count = regeneration.part_regenerate_request(part=part, actor=user, instruction=instruction)
    except review.ModerationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, REGENERATING_MESSAGE.format(count=count))
    if isinstance(part, Lesson):  # back to the lesson, where its new version will show
        return redirect(part)
    return redirect(course)


@login_required
@require_POST
def markdown_preview(request: HttpRequest) -> HttpResponse:
    """The editors' live preview (the requester's here, the admin's through `courses.admin.views.routes`): the renderer
    and sanitizer every page uses."""
    text = request.POST.get("text", "")
    if len(text) > MARKDOWN_MAX_CHARS:  # refused, as saving it would be
        return HttpResponse(MARKDOWN_TOO_LONG, status=413, content_type="text/plain; charset=utf-8")
    return HttpResponse(markdown_to_safe_html(text), content_type="text/html; charset=utf-8")


# ---------------------------------------------------------------------------------------------------------
# Learners report a lesson that is wrong, offensive or broken, from its page. GET shows the form, POST records it.
# ---------------------------------------------------------------------------------------------------------
REPORTS_PER_IP_PER_HOUR = 20
REPORT_RATE_LIMITED = "You have sent many reports in a short time. Please try again in an hour."
REPORT_THANKS = "Thank you. A moderator will look at this lesson."


def lesson_report(request: HttpRequest, course_id: str, lesson_id: int) -> HttpResponse:
    """The report form for a lesson read on the website; `?quote=` pre-fills the passage."""
    lesson = get_object_or_404(
        Lesson.objects.select_related("course", "week"), pk=lesson_id, course_id=course_id
    )
    course_readable(request, lesson.course)
    reporter = request.user if request.user.is_authenticated else None
    return _report(request, lesson, reporter, LessonReport.Source.WEB)


def _report(request: HttpRequest, lesson: Lesson, reporter: User | None, source: str) -> HttpResponse:
    form = ReportForm(
        request.POST or None,
        initial={"quoted_text": request.GET.get("quote", "")[: review.QUOTE_MAX_CHARS]},
    )
    if request.method == "POST" and form.is_valid():
        if not _within_rate(request):
            return render(request, "courses/report_done.html", {"message": REPORT_RATE_LIMITED}, status=429)
        review.lesson_report(
            lesson=lesson,
            reporter=reporter,
            reporter_ip=client_ip(request),
            source=source,
            **form.cleaned_data,
        )
        return render(request, "courses/report_done.html", {"message": REPORT_THANKS, "lesson": lesson})
    return render(
        request, "courses/report_form.html", {"form": form, "lesson": lesson, "course": lesson.course}
    )


def _within_rate(request: HttpRequest) -> bool:
    """A few reports an hour per address keep the queue readable if someone scripts the form."""
    key = rate_limit_key("report", client_ip(request))
    return not rate_limit_hit(key=key, limit=REPORTS_PER_IP_PER_HOUR, window_seconds=60 * 60)
