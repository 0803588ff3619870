"""The courses part of the JSON API: ask for a course, follow its writing, read its outline and weeks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import BeforeValidator, ConfigDict, Field

from accounts.api import request_user
from courses.errors import CourseRequestError
from courses.generation.outline_review import (
    OUTLINE_NOT_IN_REVIEW,
    OutlineError,
    outline_confirm,
    outline_edit,
    outline_estimate,
    outline_regenerate,
)
from courses.generation.pipeline import course_retry
from courses.generation.request import QuotaExceeded, course_request
from courses.models import PartStatus, Week
from courses.reading.forms import CourseRequestForm
from courses.selectors import (
    WeekEntry,
    course_progress,
    course_structure,
    week_with_lessons_and_quiz,
)
from courses.topics import topic_pattern
from courses.visibility import (
    course_is_public,
    course_is_requester,
    course_review_notice,
    course_visible_via_api,
)
from school.apitools import INVALID_INPUT, ApiError, ErrorOut
from school.http import client_ip

WEEK_NOT_FOUND = "This course has no week with this number."
RETRY_NOT_ALLOWED = "Only the person who asked for this course (signed in with their API token) can retry it."
OUTLINE_NOT_YOURS = (
    "Only the person who asked for this course (signed in with their API token) can change it."
)
NOTHING_TO_RETRY = (
    "Nothing of this course is waiting to be retried: no part failed, and the course did not fail."
)

router = Router(tags=["courses"])


# What the request form checks (`courses.reading.forms.CourseRequestForm`), told in the OpenAPI document: no
# control, surrogate, private-use or invisible formatting characters (`courses.topics.topic_pattern`), at
# least one visible character, and the length, languages and weeks the site offers. (The form stays the one
# place that enforces them, with its own messages.)
TOPIC_SCHEMA: dict[str, Any] = {
    "minLength": 1,
    "maxLength": settings.COURSE_TOPIC_MAX_LENGTH,
    "pattern": topic_pattern(),
}


def _json_integer(value: Any) -> Any:
    """A JSON integer (13 or 13.0, as JSON Schema counts them), never a string or a boolean."""
    if isinstance(value, str | bool):
        raise ValueError("must be a whole number")
    return value


class CourseRequestIn(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    topic: str = Field(json_schema_extra=TOPIC_SCHEMA)
    language: str = Field("en", json_schema_extra={"enum": [code for code, _ in settings.COURSE_LANGUAGES]})
    weeks: Annotated[int, BeforeValidator(_json_integer)] = Field(
        settings.COURSE_WEEKS_DEFAULT,
        json_schema_extra={"minimum": settings.COURSE_WEEKS_MIN, "maximum": settings.COURSE_WEEKS_MAX},
    )
    fresh: bool = Field(False, strict=True)  # write a new course even if an approved one on the topic exists
    review_outline: bool = Field(
        False, strict=True
    )  # write the outline only, and wait for POST …/outline/confirm
    # with review_outline: drop it if unconfirmed in time, instead of writing it
    drop_unconfirmed: bool = Field(False, strict=True)


class CourseCreatedOut(Schema):
    id: UUID
    status: str
    reused: bool
    url: str  # the course's page on the website
    api_url: str


class FailedPartOut(Schema):
    kind: str
    id: int
    week: int
    title: str
    reason: str


class ProgressOut(Schema):
    stage: str
    parts_written: int
    parts_total: int
    parts_failed: int
    percent: int
    failed_parts: list[FailedPartOut]


class LessonRefOut(Schema):
    id: int
    number: int
    title: str
    status: str


class WeekOutlineOut(Schema):
    number: int
    title: str
    quiz_status: str | None
    lessons: list[LessonRefOut]


class CourseOut(Schema):
    id: UUID
    topic: str
    title: str
    description: str
    audience: str
    language: str
    weeks: int
    status: str
    status_reason: str
    is_offline: bool
    is_public: bool
    review_notice: str  # what the moderators' review means for this course, for whoever asks; often ""
    url: str
    created_at: datetime
    ready_at: datetime | None
    progress: ProgressOut
    outline: list[WeekOutlineOut]


class ReadingOut(Schema):
    title: str = ""
    author: str = ""
    url: str = ""
    note: str = ""


class LessonOut(Schema):
    id: int
    number: int
    title: str
    status: str
    markdown: str
    html: str


class QuestionOut(Schema):
    number: int
    question: str
    options: list[str]


class QuizOut(Schema):
    id: int
    status: str
    questions: list[QuestionOut]  # without answers: POST them to the quiz endpoint to be graded


class WeekOut(Schema):
    course_id: UUID
    number: int
    title: str
    overview_markdown: str
    overview_html: str
    objectives: list[str]
    reading_list: list[ReadingOut]
    lessons: list[LessonOut]
    quiz: QuizOut | None


def _absolute(path: str) -> str:
    return settings.SITE_URL + path


@router.post(
    "",
    response={
        200: CourseCreatedOut,
        202: CourseCreatedOut,
        400: ErrorOut,
        401: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
    },
    summary="Ask for a course",
)
def request_course(request: HttpRequest, payload: CourseRequestIn) -> Status[dict[str, Any]]:
    """202 with the new course being written, or 200 with an approved course that already covers the topic
    (send `"fresh": true` to have a new one written anyway). Counts against the daily quota when written."""
    form = CourseRequestForm(data=payload.dict())
    if not form.is_valid():
        raise ApiError(422, INVALID_INPUT, errors=form.api_errors())
    data = form.cleaned_data
    try:
        result = course_request(
            topic=data["topic"],
            language=data["language"],
            weeks=data["weeks"],
            user=request_user(request),
            ip=client_ip(request),
            fresh=data["fresh"],
            review_outline=data["review_outline"],
            drop_unconfirmed=data["drop_unconfirmed"],
        )
    except CourseRequestError as error:
        raise ApiError(422, error.message, field=error.field) from None
    except QuotaExceeded as error:
        raise ApiError(429, error.message) from None
    course = result.course
    created = {
        "id": course.id,
        "status": course.status,
        "reused": result.reused,
        "url": _absolute(course.get_absolute_url()),
        "api_url": _absolute(f"/api/courses/{course.id}"),
    }
    return Status(200 if result.reused else 202, created)


@router.get(
    "/{course_id}", response={200: CourseOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}, summary="A course"
)
def course_detail(request: HttpRequest, course_id: UUID) -> dict[str, Any]:
    """Where the course's writing stands, and its outline: weeks with their lessons' titles and states."""
    course = course_visible_via_api(request, course_id)
    progress = course_progress(course=course)
    return {
        **{field: getattr(course, field) for field in ("id", "topic", "title", "description", "audience")},
        "language": course.language,
        "weeks": course.weeks_count,
        "status": course.status,
        "status_reason": course.status_reason,
        "is_offline": course.is_offline,
        "is_public": course_is_public(course),
        "review_notice": course_review_notice(course, request_user(request)),
        "url": _absolute(course.get_absolute_url()),
        "created_at": course.created_at,
        "ready_at": course.ready_at,
        "progress": {
            "stage": progress.stage_label,
            "parts_written": progress.parts_written,
            "parts_total": progress.parts_total,
            "parts_failed": progress.parts_failed,
            "percent": progress.percent,
            "failed_parts": [part.__dict__ for part in progress.failed_parts],
        },
        "outline": [_week_outline(week) for week in course_structure(course=course)],
    }


class RetryOut(Schema):
    id: UUID
    status: str
    api_url: str


@router.post(
    "/{course_id}/retry",
    response={202: RetryOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Try a course's failed parts again",
)
def retry_course(request: HttpRequest, course_id: UUID) -> Status[dict[str, Any]]:
    """Queue every failed part of the course again (an incomplete course goes back to writing), or start a
    failed course again from its outline. Only its requester (by token) or staff; 409 when nothing failed."""
    course = course_visible_via_api(request, course_id)
    user = request_user(request)
    if not (course_is_requester(course, user) or (user is not None and user.is_staff)):
        raise ApiError(403, RETRY_NOT_ALLOWED)
    if not course_retry(course_id=course.id):
        raise ApiError(409, NOTHING_TO_RETRY)
    course.refresh_from_db(fields=["status"])
    body = {"id": course.id, "status": course.status, "api_url": _absolute(f"/api/courses/{course.id}")}
    return Status(202, body)


class EstimateOut(Schema):
    calls: int
    cost_usd: float | None
    seconds: int


class OutlineOut(Schema):
    course_id: UUID
    status: str
    version: int  # send it back with a change: a change from an older version is refused (409)
    outline: dict[str, Any]  # as the LLM writes it (while outlining, what has streamed in so far)
    estimate: EstimateOut | None  # what writing the rest takes, once the outline waits for review


class OutlineIn(Schema):
    model_config = ConfigDict(extra="forbid")

    version: int
    outline: dict[str, Any]


class RegenerateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    version: int
    instruction: str


class ConfirmIn(Schema):
    model_config = ConfigDict(extra="forbid")

    version: int | None = None


def _course_to_shape(request: HttpRequest, course_id: UUID) -> Any:
    course = course_visible_via_api(request, course_id)
    user = request_user(request)
    if not (course_is_requester(course, user) or (user is not None and user.is_staff)):
        raise ApiError(403, OUTLINE_NOT_YOURS)
    return course


def _outline_out(course: Any) -> dict[str, Any]:
    estimate = outline_estimate(course=course) if course.status == "outlined" else None
    return {
        "course_id": course.id,
        "status": course.status,
        "version": course.outline_version,
        "outline": course.outline_draft,
        "estimate": estimate.__dict__ if estimate is not None else None,
    }


def _outline_refused(error: OutlineError) -> ApiError:
    return ApiError(409 if error.conflict else 422, error.message, field="outline")


@router.get(
    "/{course_id}/outline",
    response={200: OutlineOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="A course's outline under review",
)
def outline_detail(request: HttpRequest, course_id: UUID) -> dict[str, Any]:
    """The outline as written so far, its version, and (once it waits for review) the estimated calls, cost
    and seconds to write the rest."""
    return _outline_out(course_visible_via_api(request, course_id))


@router.put(
    "/{course_id}/outline",
    response={200: OutlineOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Change the outline under review",
)
def outline_change(request: HttpRequest, course_id: UUID, payload: OutlineIn) -> dict[str, Any]:
    """Replace the outline (the whole document, validated as the LLM's answer is). 409 when it changed since
    `version` (nothing is overwritten); 422 naming every problem (nothing is saved)."""
    course = _course_to_shape(request, course_id)
    try:
        outline_edit(
            course_id=course.id, user=request_user(request), document=payload.outline, version=payload.version
        )
    except OutlineError as error:
        raise _outline_refused(error) from None
    course.refresh_from_db()
    return _outline_out(course)


@router.post(
    "/{course_id}/outline/regenerate",
    response={202: OutlineOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Have the outline written again",
)
def outline_regenerate_endpoint(
    request: HttpRequest, course_id: UUID, payload: RegenerateIn
) -> Status[dict[str, Any]]:
    """One LLM call writes the outline again as `instruction` asks; the current one stays until it is done."""
    course = _course_to_shape(request, course_id)
    try:
        outline_regenerate(
            course_id=course.id,
            user=request_user(request),
            instruction=payload.instruction,
            version=payload.version,
        )
    except OutlineError as error:
        raise _outline_refused(error) from None
    course.refresh_from_db()
    return Status(202, _outline_out(course))


@router.post(
    "/{course_id}/outline/confirm",
    response={202: OutlineOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Write the course from its outline",
)
def outline_confirm_endpoint(
    request: HttpRequest, course_id: UUID, payload: ConfirmIn | None = None
) -> Status[dict[str, Any]]:
    """Start writing the weeks of the outline under review; 409 when it is not waiting for review (e.g.
    already confirmed: confirming twice writes once) or changed since `version`."""
    course = _course_to_shape(request, course_id)
    try:
        started = outline_confirm(course_id=course.id, version=payload.version if payload else None)
    except OutlineError as error:
        raise _outline_refused(error) from None
    if not started:
        raise ApiError(409, OUTLINE_NOT_IN_REVIEW)
    course.refresh_from_db()
    return Status(202, _outline_out(course))


def _week_outline(week: WeekEntry) -> dict[str, Any]:
    return {
        "number": week.number,
        "title": week.title,
        "quiz_status": week.quiz_status,
        "lessons": [
            {"id": lesson.id, "number": lesson.number, "title": lesson.title, "status": lesson.status}
            for lesson in week.lessons
        ],
    }


@router.get(
    "/{course_id}/weeks/{number}",
    response={200: WeekOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="One week of a course",
)
def week_detail(request: HttpRequest, course_id: UUID, number: int) -> dict[str, Any]:
    """The week's lessons as Markdown (as written) and sanitized HTML, and its quiz without the answers."""
    course = course_visible_via_api(request, course_id)
    try:  # this week's rows only, not every lesson's text in the course
        week = week_with_lessons_and_quiz(course_id=course.id, number=number)
    except Week.DoesNotExist:
        raise ApiError(404, WEEK_NOT_FOUND, field="number") from None
    quiz = getattr(week, "quiz", None)
    return {
        "course_id": course.id,
        "number": week.number,
        "title": week.title,
        "overview_markdown": week.overview,
        "overview_html": week.overview_safe_html,
        "objectives": [str(objective) for objective in week.objectives],
        "reading_list": [item for item in week.reading_list if isinstance(item, dict)],
        "lessons": [_lesson(lesson) for lesson in week.lessons.all()],
        "quiz": _quiz(quiz) if quiz is not None else None,
    }


def _lesson(lesson: Any) -> dict[str, Any]:
    written = lesson.status == PartStatus.WRITTEN
    return {
        "id": lesson.id,
        "number": lesson.number,
        "title": lesson.title,
        "status": lesson.status,
        "markdown": lesson.body if written else "",
        "html": lesson.body_safe_html if written else "",
    }


def _quiz(quiz: Any) -> dict[str, Any]:
    written = quiz.status == PartStatus.WRITTEN
    questions = quiz.questions if written else []
    return {
        "id": quiz.id,
        "status": quiz.status,
        "questions": [
            {"number": n, "question": q["question"], "options": q["options"]} for n, q in enumerate(questions)
        ],
    }
