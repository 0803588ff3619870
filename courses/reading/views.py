"""The courses side of the website: home, catalogue and search, asking for a course, watching it being
written, and exports. The learner's course, lesson and quiz pages live in `delivery` (they show progress)."""

from __future__ import annotations

from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from courses.errors import CourseRequestError
from courses.generation.outline_review import (
    OutlineError,
    outline_confirm,
    outline_edit,
    outline_estimate,
    outline_move,
    outline_regenerate,
)
from courses.generation.pipeline import PART_MODELS, course_retry, part_retry
from courses.generation.request import QuotaExceeded, course_quota_remaining, course_request
from courses.models import Course
from courses.reading.exports import (
    course_markdown,
    course_pdf_open,
    course_pdf_request,
    course_pdf_state,
    export_filename,
)
from courses.reading.forms import CourseRequestForm, NotifyForm, SearchForm, outline_from_post
from courses.reading.notify import course_notify_request
from courses.selectors import (
    course_catalogue,
    course_featured,
    course_for_export,
    course_get,
    course_progress,
    course_recent,
    course_search,
    course_similar,
    course_weeks_written,
)
from courses.visibility import (
    course_followable,
    course_is_held,
    course_readable,
    course_review_notice_for,
    requested_courses_remember,
    viewer_is_requester,
)
from school.http import client_ip

CATALOGUE_PAGE_SIZE = 24
RETRY_QUEUED = "Trying again: the missing parts are back in the queue."
RETRY_NOT_ALLOWED = "Only the person who asked for this course can retry it."
NOTIFY_NOT_ALLOWED = "Only the person who asked for this course can ask to be emailed about it."
NOTIFY_KEPT = "We will email {email} once, when the course is written."
NOTIFY_EMAIL_INVALID = "Please enter a valid email address."
OUTLINE_NOT_YOURS = "Only the person who asked for this course can change its outline."
OUTLINE_SAVED = "Outline saved."
OUTLINE_REGENERATING = "The outline is being written again; it appears below as it arrives."
OUTLINE_CONFIRMED = "Your course is being written, week by week."


def _ready_course(request: HttpRequest, course_id: UUID) -> Course:
    course = course_readable(request, course_get(course_id=course_id))
    if not course.is_ready:
        raise Http404("This course is still being written")
    return course


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The home page; ?topic= fills in the request form (the catalogue's "Ask for one" keeps the search)."""
    topic = " ".join(request.GET.get("topic", "").split())[: settings.COURSE_TOPIC_MAX_LENGTH]
    form = CourseRequestForm(initial={"topic": topic} if topic else None)
    return render(request, "courses/home.html", _request_context(request, form))


@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    """Every public course, or those matching the search (?q=), filtered by language and length, sorted."""
    form = SearchForm(request.GET or None)
    query = form.cleaned_data["q"].strip() if form.is_valid() else ""
    filters = form.filters() if form.is_bound else {"language": "", "length": "", "sort": ""}
    language, length, sort = filters["language"], filters["length"], filters["sort"]
    context: dict[str, object] = {"search_form": form, "query": query, "filters": filters}
    if query:
        context["results"] = course_search(query=query, language=language, length=length, sort=sort)
    else:
        paginator = Paginator(
            course_catalogue(language=language, length=length, sort=sort), CATALOGUE_PAGE_SIZE
        )
        context["page"] = paginator.get_page(request.GET.get("page"))
        context["page_query"] = urlencode({key: value for key, value in filters.items() if value})
    return render(request, "courses/catalogue.html", context, status=400 if form.errors else 200)


def _request_context(request: HttpRequest, form: CourseRequestForm) -> dict[str, object]:
    learner = request.user if isinstance(request.user, User) else None
    return {
        "form": form,
        "search_form": SearchForm(),
        "featured": course_featured(limit=6),
        "recent": course_recent(limit=9),
        "quota_remaining": course_quota_remaining(user=learner, ip=client_ip(request)),
    }


@require_POST
def request_course(request: HttpRequest) -> HttpResponse:
    """Ask for a course: offered at once if an approved one exists, else written while the visitor watches."""
    form = CourseRequestForm(request.POST)
    if not form.is_valid():
        return render(request, "courses/home.html", _request_context(request, form), status=400)
    data = form.cleaned_data
    learner = request.user if isinstance(request.user, User) else None
    if not (data["fresh"] or data["anyway"]):
        similar = course_similar(topic=data["topic"], language=data["language"])
        if similar:  # offered first: reading one that exists beats waiting for a new one
            return render(request, "courses/request_similar.html", {"form": form, "similar": similar})
    try:
        result = course_request(
            topic=data["topic"],
            language=data["language"],
            weeks=data["weeks"],
            user=learner,
            ip=client_ip(request),
            fresh=data["fresh"],
            review_outline=data["review_outline"],
            drop_unconfirmed=data["drop_unconfirmed"],
        )
    except CourseRequestError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return render(request, "courses/home.html", _request_context(request, form), status=400)
    except QuotaExceeded as error:
        form.add_error(None, error.message)
        return render(request, "courses/home.html", _request_context(request, form), status=429)
    if result.reused:
        return redirect(f"{result.course.get_absolute_url()}?reused=1")
    requested_courses_remember(request, result.course)
    return redirect("courses:writing", result.course.id)


@require_GET
def writing(request: HttpRequest, course_id: UUID) -> HttpResponse:
    """The course being written, with a live progress bar. `?fragment=1` returns just the progress part,
    for the page's poller; without JavaScript the page refreshes itself instead. A course held for review
    stays followable here, without any of its text, and with the review notice saying why. Its outline shows
    as it streams in; once written, its requester shapes and confirms it here (two-step requests)."""
    course = course_followable(request, course_get(course_id=course_id))
    fragment = request.GET.get("fragment") == "1"
    if course.is_ready and not fragment:
        return redirect(course)
    return _writing_page(request, course, fragment=fragment)


def _writing_page(
    request: HttpRequest,
    course: Course,
    *,
    fragment: bool = False,
    outline: dict[str, object] | None = None,
    outline_error: str = "",
    version: int | None = None,
    status: int = 200,
) -> HttpResponse:
    """The writing page; after a refused outline change, with what was posted (nothing is lost) and why."""
    can_retry = viewer_is_requester(request, course)
    shown = outline if outline is not None else course.outline_draft
    context = {
        "course": course,
        "progress": course_progress(course=course),
        "can_retry": can_retry,
        "notify_form": NotifyForm(initial={"email": _email_of(request)}) if can_retry else None,
        "stages": _stages(course),
        "review_notice": course_review_notice_for(request, course),
        "text_hidden": course_is_held(course) and not request.user.is_staff,
        "outline": shown if course.status in OUTLINE_SHOWN else None,
        "can_shape": can_retry and course.status == Course.Status.OUTLINED,
        "estimate": outline_estimate(course=course) if course.status == Course.Status.OUTLINED else None,
        "outline_error": outline_error,
        "outline_version": course.outline_version if version is None else version,
        "written_weeks": course_weeks_written(course=course),
    }
    template = "courses/_writing_progress.html" if fragment else "courses/writing.html"
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    return response


OUTLINE_SHOWN = (Course.Status.OUTLINING, Course.Status.OUTLINED)


def _stages(course: Course) -> list[dict[str, object]]:
    """The pipeline's steps for the page, each marked done, current or to come."""
    order = [Course.Status.QUEUED, Course.Status.OUTLINING, Course.Status.WRITING, Course.Status.READY]
    labels = ["Queued", "Planning the weeks", "Writing lessons and quizzes", "Ready"]
    if course.status == Course.Status.OUTLINED:  # its requester's turn, between planning and writing
        order[1], labels[1] = Course.Status.OUTLINED, "Your review of the outline"
    current = order.index(Course.Status(course.status)) if course.status in order else 2
    if course.status == Course.Status.INCOMPLETE:  # it ends here, with parts missing
        labels[-1], current = "Incomplete", 3
    return [
        {
            "label": label,
            "state": "done" if i < current or course.is_ready else "current" if i == current else "todo",
        }
        for i, label in enumerate(labels)
    ]


def _course_to_retry(request: HttpRequest, course_id: UUID) -> Course:
    course = course_followable(request, course_get(course_id=course_id))
    if not viewer_is_requester(request, course):
        raise PermissionDenied(RETRY_NOT_ALLOWED)
    return course


@require_POST
def retry(request: HttpRequest, course_id: UUID) -> HttpResponse:
    """Start a failed course again, or retry all its failed parts (its requester and staff only)."""
    course = _course_to_retry(request, course_id)
    if course_retry(course_id=course.id):
        messages.success(request, RETRY_QUEUED)
    return redirect("courses:writing", course.id)


@require_POST
def retry_part(request: HttpRequest, course_id: UUID, kind: str, part_id: int) -> HttpResponse:
    course = _course_to_retry(request, course_id)
    if kind not in PART_MODELS:
        raise Http404("No such part")
    if part_retry(course_id=course.id, kind=kind, part_id=part_id):
        messages.success(request, RETRY_QUEUED)
    return redirect("courses:writing", course.id)


def _email_of(request: HttpRequest) -> str:
    return request.user.email if isinstance(request.user, User) else ""


@require_POST
def writing_notify(request: HttpRequest, course_id: UUID) -> HttpResponse:
    """ "Email me when it is ready": the requester leaves an address on the writing page."""
    course = course_followable(request, course_get(course_id=course_id))
    if not viewer_is_requester(request, course):
        raise PermissionDenied(NOTIFY_NOT_ALLOWED)
    form = NotifyForm(request.POST)
    if not form.is_valid():
        messages.error(request, NOTIFY_EMAIL_INVALID)
    elif course_notify_request(course=course, email=form.cleaned_data["email"]):
        messages.success(request, NOTIFY_KEPT.format(email=form.cleaned_data["email"]))
    return redirect("courses:writing", course.id)


def _course_to_shape(request: HttpRequest, course_id: UUID) -> Course:
    course = course_followable(request, course_get(course_id=course_id))
    if not viewer_is_requester(request, course):
        raise PermissionDenied(OUTLINE_NOT_YOURS)
    return course


def _posted_version(request: HttpRequest) -> int:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else -1


@require_POST
def outline_change(request: HttpRequest, course_id: UUID) -> HttpResponse:
    """Save the outline editor's form, changed by the button pressed (move, add, remove, or just save)."""
    course = _course_to_shape(request, course_id)
    version = _posted_version(request)
    document = outline_from_post(request.POST, course.outline_draft)
    action = request.POST.get("action", "save")
    if action != "save":
        document = outline_move(document, action)
    learner = request.user if isinstance(request.user, User) else None
    try:
        outline_edit(course_id=course.id, user=learner, document=document, version=version)
    except OutlineError as error:
        status = 409 if error.conflict else 400
        return _writing_page(
            request, course, outline=document, outline_error=error.message, version=version, status=status
        )
    messages.success(request, OUTLINE_SAVED)
    return redirect(reverse("courses:writing", args=[course.id]) + "#outline")


@require_POST
def outline_again(request: HttpRequest, course_id: UUID) -> HttpResponse:
    """Have the outline written again, as the requester's instruction asks."""
    course = _course_to_shape(request, course_id)
    learner = request.user if isinstance(request.user, User) else None
    instruction = request.POST.get("instruction", "")
    try:
        outline_regenerate(
            course_id=course.id, user=learner, instruction=instruction, version=_posted_version(request)
        )
    except OutlineError as error:
        return _writing_page(
            request, course, outline_error=error.message, status=409 if error.conflict else 400
        )
    messages.success(request, OUTLINE_REGENERATING)
    return redirect("courses:writing", course.id)


@require_POST
def outline_write(request: HttpRequest, course_id: UUID) -> HttpResponse:
    """ "Write this course": start writing the weeks of the outline as it stands (once, however often pressed)."""
    course = _course_to_shape(request, course_id)
    try:
        if outline_confirm(course_id=course.id, version=_posted_version(request)):
            messages.success(request, OUTLINE_CONFIRMED)
    except OutlineError as error:
        return _writing_page(
            request, course, outline_error=error.message, status=409 if error.conflict else 400
        )
    return redirect("courses:writing", course.id)


@require_GET
def short_link(request: HttpRequest, course_id: UUID) -> HttpResponse:
    """A short, stable link to a course (for emails and sharing), whatever page suits its state."""
    return redirect(course_followable(request, course_get(course_id=course_id)))


@require_GET
def export_markdown(request: HttpRequest, course_id: UUID) -> HttpResponse:
    course = _ready_course(request, course_id)
    full = course_for_export(course_id=course.id)
    assert full is not None
    response = HttpResponse(course_markdown(course=full), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(course, "md")}"'
    return response


@require_http_methods(["GET", "POST"])
def export_pdf(request: HttpRequest, course_id: UUID) -> HttpResponseBase:
    """The course's PDF once it is made; until then, a page that waits for it (POST: try a failed one again)."""
    course = _ready_course(request, course_id)
    state = course_pdf_request(course=course, retry_failed=request.method == "POST")
    if request.method == "POST":
        return redirect("courses:export_pdf", course.id)
    if not state.is_ready:
        return render(request, "courses/pdf_preparing.html", {"course": course, "state": state}, status=202)
    return FileResponse(
        course_pdf_open(course=course),
        as_attachment=True,
        filename=export_filename(course, "pdf"),
        content_type="application/pdf",
    )


@require_GET
def export_pdf_status(request: HttpRequest, course_id: UUID) -> JsonResponse:
    """The PDF's state for the waiting page's poller."""
    course = _ready_course(request, course_id)
    state = course_pdf_state(course=course)
    return JsonResponse(
        {"state": state.state, "stage": state.stage, "started_at": state.started_at, "error": state.error},
        headers={"Cache-Control": "no-store"},
    )
