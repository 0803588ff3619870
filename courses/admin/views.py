"""Staff pages inside the admin: one-click review steps, the course's content with in-place editing, revision
history with diffs and restore, the markdown preview, and the cost dashboard.

Every view is wrapped by `admin_site.admin_view` (see `CourseAdmin.get_urls`): staff login and CSRF are
required before any of them runs; each then checks its own permission.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise
from typing import Any, cast

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.models import User
from courses.generation import doctor
from courses.models import (
    ContentFlag,
    Course,
    Lesson,
    LessonPicture,
    LessonReport,
    PartKind,
    PartRevision,
    Quiz,
    Week,
)
from courses.moderation import costs, editing, regeneration, review, screening
from courses.moderation import views as moderation_views
from courses.moderation.forms import (
    LessonForm,
    QuizNoteForm,
    ReasonForm,
    RegenerateForm,
    WeekForm,
    formset_questions,
    question_formset,
)
from courses.quality import lookups, pictures
from courses.quality.report import lookups_enabled, lookups_off_reason

REGENERATING_MESSAGE = (
    "Regenerating {count} part(s). The earlier versions are kept in each part's history; "
    "reload the page to see the new text."
)
DASHBOARD_DAYS = 30


PICTURE_REMOVED = "Picture removed from the lesson."
PICTURE_REPLACED = "The lesson now shows “{title}” ({licence})."
PICTURE_SEARCH_FAILED = "Wikimedia Commons did not answer ({error}); try again in a moment."


def routes(model_admin: ModelAdmin[Any]) -> list[tuple[str, Callable[..., HttpResponse], str]]:
    """(route, view, name) for `CourseAdmin.get_urls`; names are prefixed with "courses_"."""
    return [
        ("<uuid:course_id>/approve/", course_approve, "course_approve"),
        ("<uuid:course_id>/feature/", course_feature, "course_feature"),
        ("<uuid:course_id>/unfeature/", course_unfeature, "course_unfeature"),
        ("<uuid:course_id>/release/", course_release, "course_release"),
        ("<uuid:course_id>/reject/", course_reject, "course_reject"),
        ("<uuid:course_id>/request-changes/", course_request_changes, "course_request_changes"),
        ("<uuid:course_id>/content/", course_content, "course_content"),
        ("week/<int:part_id>/edit/", week_edit, "week_edit"),
        ("lesson/<int:part_id>/edit/", lesson_edit, "lesson_edit"),
        ("quiz/<int:part_id>/edit/", quiz_edit, "quiz_edit"),
        ("<str:kind>/<int:part_id>/history/", part_history, "part_history"),
        ("<str:kind>/<int:part_id>/regenerate/", part_regenerate, "part_regenerate"),
        ("revision/<int:revision_id>/restore/", revision_restore, "revision_restore"),
        ("report/<int:report_id>/resolve/", report_resolve, "report_resolve"),
        ("picture/<int:picture_id>/remove/", picture_remove, "picture_remove"),
        ("lesson/<int:part_id>/picture/", picture_replace, "picture_replace"),
        ("preview/", moderation_views.markdown_preview, "markdown_preview"),  # the learners' editor's preview
        ("dashboard/", dashboard, "dashboard"),
    ]


def staff(request: HttpRequest) -> User:
    """The signed-in staff member; `admin_view` has already turned everyone else away."""
    return cast(User, request.user)


def _require(request: HttpRequest, *perms: str) -> None:
    if not request.user.has_perms(perms):
        raise PermissionDenied


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "opts": Course._meta, **extra}


def _back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Back to the page the button was on (the queue keeps its filters), if it is one of ours."""
    target = _own_url(request, request.POST.get("next") or request.headers.get("referer", ""))
    return HttpResponseRedirect(target or fallback)


def _own_url(request: HttpRequest, url: str) -> str:
    """`url` if it leads to a page of this site, else "" (a `next` link must not send staff elsewhere)."""
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return url
    return ""


# --- One-click review steps ----------------------------------------------------------------------------
def _one_click(request: HttpRequest, course_id: str, step: Callable[..., Any], done: str) -> HttpResponse:
    _require(request, "courses.moderate_course")
    course = get_object_or_404(Course, pk=course_id)
    try:
        changed = step(course=course, actor=staff(request))
    except review.ModerationError as error:
        messages.error(request, f"{course}: {error}")
    else:
        messages.success(request, f"{course}: {done}." if changed else f"{course}: nothing to change.")
    return _back(request, reverse("admin:courses_course_changelist"))


@require_POST
def course_approve(request: HttpRequest, course_id: str) -> HttpResponse:
    return _one_click(request, course_id, review.course_approve, "approved")


@require_POST
def course_feature(request: HttpRequest, course_id: str) -> HttpResponse:
    return _one_click(request, course_id, review.course_feature, "featured")


@require_POST
def course_unfeature(request: HttpRequest, course_id: str) -> HttpResponse:
    return _one_click(request, course_id, review.course_unfeature, "no longer featured")


@require_POST
def course_release(request: HttpRequest, course_id: str) -> HttpResponse:
    return _one_click(request, course_id, review.course_release, "released from hold")


def course_reject(request: HttpRequest, course_id: str) -> HttpResponse:
    return _with_reason(request, course_id, review.course_reject, "Reject", "rejected")


def course_request_changes(request: HttpRequest, course_id: str) -> HttpResponse:
    return _with_reason(request, course_id, review.course_request_changes, "Ask for changes to", "sent back")


def _with_reason(
    request: HttpRequest, course_id: str, step: Callable[..., Any], verb: str, done: str
) -> HttpResponse:
    """GET shows the reason form; POST applies the step with the reason the requester will read."""
    _require(request, "courses.moderate_course")
    course = get_object_or_404(Course, pk=course_id)
    form = ReasonForm(request.POST or None, initial={"reason": course.review_reason})
    if request.method == "POST" and form.is_valid():
        try:
            step(course=course, actor=staff(request), reason=form.cleaned_data["reason"])
        except review.ModerationError as error:
            form.add_error("reason", str(error))
        else:
            messages.success(request, f"{course}: {done}.")
            return redirect("admin:courses_course_changelist")
    context = _context(request, title=f"{verb} “{course}”", course=course, form=form, verb=verb)
    return TemplateResponse(request, "admin/courses/moderation_reason.html", context)


# --- The course's content, editing and history ---------------------------------------------------------
def course_content(request: HttpRequest, course_id: str) -> HttpResponse:
    """Every week, lesson and quiz of a course, with the flags and reports on each, and links to edit."""
    _require(request, "courses.view_course")
    course = get_object_or_404(Course.objects.select_related("requested_by"), pk=course_id)
    weeks = (
        course.weeks.select_related("quiz")
        .prefetch_related(
            Prefetch(
                "lessons",
                Lesson.objects.select_related("picture")
                .annotate(revision_count=Count("revisions"))
                .order_by("number"),
            )
        )
        .annotate(
            revision_count=Count("revisions", distinct=True),
            quiz_revision_count=Count("quiz__revisions", distinct=True),
        )
    )
    flags: dict[tuple[str, int | None], list[ContentFlag]] = defaultdict(list)
    for flag in course.flags.filter(resolved_at__isnull=True):
        flags[(flag.part_kind, flag.week_id or flag.lesson_id or flag.quiz_id)].append(flag)
    reports: dict[int, list[LessonReport]] = defaultdict(list)
    for report in course.reports.filter(resolved_at__isnull=True):
        reports[report.lesson_id].append(report)
    order = _flagged_order(weeks, flags, reports)
    context = _context(
        request,
        title=str(course),
        course=course,
        weeks=weeks,
        flagged_weeks=_flagged_weeks(weeks, order),
        first_flagged="-".join(map(str, order[0])) if order else "",
        next_flagged={part: "-".join(map(str, after)) for part, after in pairwise(order)},
        flags=dict(flags),
        outline_flags=flags.get((PartKind.OUTLINE, None), []),
        reports=dict(reports),
        can_moderate=request.user.has_perm("courses.moderate_course"),
    )
    return TemplateResponse(request, "admin/courses/course_content.html", context)


def _flagged_order(
    weeks: Any, flags: dict[tuple[str, int | None], list[ContentFlag]], reports: dict[int, list[LessonReport]]
) -> list[tuple[str, int]]:
    """(kind, id) of the parts with open flags or reports, in reading order, for the "next flagged" links."""
    order = []
    for week in weeks:
        if flags.get((PartKind.WEEK, week.pk)):
            order.append((PartKind.WEEK.value, week.pk))
        order += [
            (PartKind.LESSON.value, lesson.pk)
            for lesson in week.lessons.all()
            if flags.get((PartKind.LESSON, lesson.pk)) or reports.get(lesson.pk)
        ]
        quiz = getattr(week, "quiz", None)  # a week whose quiz failed to be written has none
        if quiz and flags.get((PartKind.QUIZ, quiz.pk)):
            order.append((PartKind.QUIZ.value, quiz.pk))
    return order


def _flagged_weeks(weeks: Any, order: list[tuple[str, int]]) -> dict[int, int]:
    """Week id → how many of its parts are flagged or reported (weeks with none are left out)."""
    owner = {}
    for week in weeks:
        owner[(PartKind.WEEK.value, week.pk)] = week.pk
        owner.update({(PartKind.LESSON.value, lesson.pk): week.pk for lesson in week.lessons.all()})
        if quiz := getattr(week, "quiz", None):
            owner[(PartKind.QUIZ.value, quiz.pk)] = week.pk
    counts: dict[int, int] = defaultdict(int)
    for part in order:
        counts[owner[part]] += 1
    return dict(counts)


def _editable(request: HttpRequest, kind: str, part_id: int) -> Any:
    _require(request, f"courses.change_{kind}")
    return get_object_or_404(review.PART_MODELS[kind].objects.select_related("course"), pk=part_id)


def _content_url(part: Week | Lesson | Quiz) -> str:
    anchor = f"#{review.part_kind(part)}-{part.pk}"
    return reverse("admin:courses_course_content", args=[part.course_id]) + anchor


def week_edit(request: HttpRequest, part_id: int) -> HttpResponse:
    week = _editable(request, PartKind.WEEK, part_id)
    form = WeekForm.for_week(week, request.POST or None)
    return _editor(request, week, form, form.changes, title=f"Edit week {week.number}")


def lesson_edit(request: HttpRequest, part_id: int) -> HttpResponse:
    lesson = _editable(request, PartKind.LESSON, part_id)
    form = LessonForm(request.POST or None, initial={"title": lesson.title, "body": lesson.body})
    title = f"Edit lesson “{lesson.title}”"
    return _editor(request, lesson, form, form.changes, title=title, extra=_picture_context(request, lesson))


def _picture_context(request: HttpRequest, lesson: Lesson) -> dict[str, Any]:
    """The lesson editor's picture panel: the picture shown now and, once asked (`?picture_query=`), other
    freely licensed files from Commons to pick from."""
    context: dict[str, Any] = {
        "picture": lesson.shown_picture,
        "picture_query": request.GET.get("picture_query", pictures.lesson_picture_query(lesson))[:250],
        "picture_lookups_off": "" if lookups_enabled() else lookups_off_reason(),
        "picture_candidates": None,  # None: not searched yet; []: searched, nothing freely licensed
    }
    if "picture_query" in request.GET and not context["picture_lookups_off"]:
        try:
            context["picture_candidates"] = pictures.lesson_picture_candidates(
                lesson=lesson, query=context["picture_query"]
            )
        except lookups.LookupFailed as error:
            context["picture_error"] = PICTURE_SEARCH_FAILED.format(error=error)
    return context


def quiz_edit(request: HttpRequest, part_id: int) -> HttpResponse:
    quiz = _editable(request, PartKind.QUIZ, part_id)
    formset = question_formset(quiz, request.POST or None)
    form = QuizNoteForm(request.POST or None)
    title = f"Edit the quiz of week {quiz.week.number}"
    return _editor(
        request, quiz, form, lambda: {"questions": formset_questions(formset)}, title=title, formset=formset
    )


def _editor(
    request: HttpRequest,
    part: Any,
    form: Any,
    changes: Callable[[], dict[str, Any]],
    *,
    title: str,
    formset: Any = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """GET shows the part's editor; a valid POST saves the edit (`changes()`, read once the forms are valid)
    and goes back to the part in the course's content, or shows the service's error on the form."""
    if request.method == "POST" and form.is_valid() and (formset is None or formset.is_valid()):
        try:
            revision = editing.part_edit(
                part=part, changes=changes(), actor=staff(request), note=form.cleaned_data["note"]
            )
        except review.ModerationError as error:
            form.add_error(None, str(error))
        else:
            saved = "Saved; the earlier version is kept in the history." if revision else "Nothing changed."
            messages.success(request, saved)
            return HttpResponseRedirect(_content_url(part))
    kind = review.part_kind(part)
    context = _context(
        request,
        title=title,
        course=part.course,
        part=part,
        kind=kind,
        form=form,
        formset=formset,
        preview_url=reverse("admin:courses_markdown_preview"),
        history_url=reverse("admin:courses_part_history", args=[kind, part.pk]),
        content_url=_content_url(part),
        regenerate_url=reverse("admin:courses_part_regenerate", args=[kind, part.pk]),
        **(extra or {}),
    )
    template = "admin/courses/quiz_edit.html" if kind == PartKind.QUIZ else "admin/courses/part_edit.html"
    return TemplateResponse(request, template, context)


def part_history(request: HttpRequest, kind: str, part_id: int) -> HttpResponse:
    """Each revision next to what replaced it, as a line diff, newest first, with restore buttons."""
    if kind not in review.PART_MODELS:
        raise Http404
    _require(request, f"courses.view_{kind}", "courses.view_partrevision")
    part: Any = get_object_or_404(review.PART_MODELS[kind].objects.select_related("course"), pk=part_id)
    revisions = list(part.revisions.select_related("author").order_by("-created_at", "-id"))
    newer_content = editing.part_snapshot(part)
    rows = []
    for revision in revisions:  # newest first: each was replaced by the content one step newer
        rows.append({"revision": revision, "diff": content_diff(kind, revision.content, newer_content)})
        newer_content = revision.content
    context = _context(
        request,
        title=f"History of {PartKind(kind).label.lower()} “{part}”",
        course=part.course,
        part=part,
        kind=kind,
        rows=rows,
        can_restore=request.user.has_perm(f"courses.change_{kind}"),
        content_url=_content_url(part),
    )
    return TemplateResponse(request, "admin/courses/part_history.html", context)


def part_regenerate(request: HttpRequest, kind: str, part_id: int) -> HttpResponse:
    """GET asks to confirm (it spends LLM calls); POST writes a week (its plan, then its lessons and quiz),
    a lesson or a quiz again, with an optional instruction."""
    if kind not in review.PART_MODELS:
        raise Http404
    part = _editable(request, kind, part_id)
    if request.method != "POST":
        return _regenerate_confirm(request, part)
    form = RegenerateForm(request.POST)
    instruction = form.cleaned_data["instruction"] if form.is_valid() else ""
    try:
        count = regeneration.part_regenerate_request(part=part, actor=staff(request), instruction=instruction)
    except review.ModerationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, REGENERATING_MESSAGE.format(count=count))
    return _back(request, _content_url(part))


def _regenerate_confirm(request: HttpRequest, part: Week | Lesson | Quiz) -> HttpResponse:
    kind = review.part_kind(part)
    context = _context(
        request,
        title=f"Regenerate {PartKind(kind).label.lower()} “{part}”?",
        course=part.course,
        part=part,
        kind=kind,
        form=RegenerateForm(initial={"instruction": request.GET.get("instruction", "")}),
        calls=regeneration.part_regenerate_calls(part=part),
        next_url=_own_url(request, request.GET.get("next", "")),
        content_url=_content_url(part),
    )
    return TemplateResponse(request, "admin/courses/regenerate_confirm.html", context)


@require_POST
def revision_restore(request: HttpRequest, revision_id: int) -> HttpResponse:
    revision = get_object_or_404(
        PartRevision.objects.select_related("week", "lesson", "quiz"), pk=revision_id
    )
    _require(request, f"courses.change_{revision.kind}")
    editing.revision_restore(revision=revision, actor=staff(request))
    messages.success(request, "Restored; the version it replaced is kept in the history too.")
    return redirect(
        "admin:courses_part_history",
        revision.kind,
        revision.week_id or revision.lesson_id or revision.quiz_id,
    )


@require_POST
def report_resolve(request: HttpRequest, report_id: int) -> HttpResponse:
    _require(request, "courses.change_lessonreport")
    report = get_object_or_404(LessonReport.objects.select_related("lesson", "course"), pk=report_id)
    review.report_resolve(report=report, actor=staff(request), note=request.POST.get("note", ""))
    messages.success(request, "Report resolved.")
    return _back(request, reverse("admin:courses_course_content", args=[report.course_id]))


@require_POST
def picture_remove(request: HttpRequest, picture_id: int) -> HttpResponse:
    _require(request, "courses.change_lesson")
    picture = get_object_or_404(LessonPicture, pk=picture_id)
    pictures.lesson_picture_remove(picture=picture, actor=staff(request))
    messages.success(request, PICTURE_REMOVED)
    return _back(request, reverse("admin:courses_course_content", args=[picture.course_id]))


@require_POST
def picture_replace(request: HttpRequest, part_id: int) -> HttpResponse:
    """Show the Commons file the moderator picked on the lesson, once Commons confirms it exists and is free."""
    lesson = _editable(request, PartKind.LESSON, part_id)
    try:
        picture = pictures.lesson_picture_replace(
            lesson=lesson, title=request.POST.get("title", ""), actor=staff(request)
        )
    except pictures.PictureRefused as error:
        messages.error(request, str(error))
    except lookups.LookupFailed as error:
        messages.error(request, PICTURE_SEARCH_FAILED.format(error=error))
    else:
        messages.success(request, PICTURE_REPLACED.format(title=picture.title, licence=picture.licence))
    return HttpResponseRedirect(reverse("admin:courses_lesson_edit", args=[lesson.pk]) + "#picture")


def content_as_text(kind: str, content: dict[str, Any]) -> str:
    """A part's fields as plain lines, so two versions can be compared line by line."""
    if kind == PartKind.WEEK:
        objectives = "\n".join(f"- {line}" for line in content.get("objectives") or [])
        return f"# {content.get('title', '')}\n\n{content.get('overview', '')}\n\nObjectives:\n{objectives}"
    if kind == PartKind.LESSON:
        return f"# {content.get('title', '')}\n\n{content.get('body', '')}"
    lines = []
    for number, item in enumerate(content.get("questions") or [], start=1):
        lines.append(f"{number}. {item.get('question', '')}")
        for index, option in enumerate(item.get("options") or []):
            mark = "✓" if index == item.get("answer") else " "
            lines.append(f"   [{mark}] {option}")
        lines.append(f"   Explanation: {item.get('explanation', '')}")
    return "\n".join(lines)


def content_diff(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """(css class, line) pairs of a unified diff; the template escapes every line."""
    lines = difflib.unified_diff(
        content_as_text(kind, old).splitlines(),
        content_as_text(kind, new).splitlines(),
        fromfile="this version",
        tofile="what replaced it",
        lineterm="",
        n=2,
    )
    classes = {"+": "diff-add", "-": "diff-del", "@": "diff-hunk"}
    return [
        (classes.get(line[:1], "diff-same"), line) for line in lines if not line.startswith(("---", "+++"))
    ]


LLM_SETTINGS_SHOWN = (
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "LLM_PROFILE",
    "LLM_STRUCTURED_OUTPUT",
    "LLM_TOKEN_LIMIT_PARAMETER",
    "LLM_SCHEMA_LENGTH_LIMITS",
    "LLM_TIMEOUT_SECONDS",
    "LLM_MAX_CONCURRENCY",
)


def llm_endpoint_context() -> dict[str, Any]:
    """What the LLM endpoint panel shows (cost dashboard, LLM calls): who moderates, the forms in use and
    the last `llm_doctor` diagnosis."""
    return {
        "moderation_summary": screening.moderation_summary(),
        "llm_settings": {name: getattr(settings, name) for name in LLM_SETTINGS_SHOWN},
        "diagnosis": doctor.diagnosis_last(),
    }


# --- The cost dashboard --------------------------------------------------------------------------------
def dashboard(request: HttpRequest) -> HttpResponse:
    """Spend and usage for superusers: per day, per course, failures by reason and the top requesters."""
    if not request.user.is_superuser:
        raise PermissionDenied
    days = costs.dashboard_days(days=DASHBOARD_DAYS)
    context = _context(
        request,
        title="LLM cost and usage",
        days=days,
        chart=costs.dashboard_chart(days=days),
        chart_size=(costs.CHART_WIDTH, costs.CHART_HEIGHT),
        top_cost=max((day.usage.cost for day in days), default=0.0),
        totals={"cost": sum(day.usage.cost for day in days), "calls": sum(day.usage.calls for day in days)},
        spend_today=costs.spend_today_usd(),
        cap=settings.LLM_DAILY_SPEND_CAP_USD,
        cap_reached=costs.spend_cap_reached(),
        spend_cap_message=costs.SPEND_CAP_MESSAGE,
        top_courses=costs.dashboard_courses(days=DASHBOARD_DAYS),
        stages=costs.dashboard_stages(days=DASHBOARD_DAYS),
        failures=costs.dashboard_failures(days=DASHBOARD_DAYS),
        requesters=costs.dashboard_requesters(days=DASHBOARD_DAYS),
        window=DASHBOARD_DAYS,
        prices=sorted(settings.LLM_PRICES_PER_MILLION.items()),
        **llm_endpoint_context(),
    )
    return TemplateResponse(request, "admin/courses/dashboard.html", context)
