"""Reads about courses, for views, other apps (`delivery` reads courses only through here) and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import Prefetch

from courses.models import Course, Lesson, PartStatus, Quiz, Week

STAGE_QUEUED = "Waiting for a writer to pick up the course…"
STAGE_OUTLINING = "Planning the weeks…"
STAGE_WRITING = "Writing the lessons and quizzes: {written} of {total} parts written"
STAGE_WRITING_WITH_FAILURES = (
    "{written} of {total} parts written; {failed} could not be written and can be retried"
)
STAGE_READY = "Ready"
STAGE_FAILED = "Could not be written"

PartKind = Literal["lesson", "quiz"]


@dataclass(frozen=True)
class FailedPart:
    kind: PartKind
    id: int
    week: int
    title: str
    reason: str


@dataclass(frozen=True)
class CourseProgress:
    status: str  # a Course.Status value
    stage_label: str
    parts_written: int
    parts_total: int
    parts_failed: int
    percent: int
    failed_parts: tuple[FailedPart, ...]
    is_offline: bool
    reason: str  # why the course failed, when it did

    @property
    def is_finished(self) -> bool:
        return self.status in {Course.Status.READY, Course.Status.FAILED}


def course_progress(*, course: Course) -> CourseProgress:
    """Where the course's generation stands, from the database, in two queries (lessons, quizzes)."""
    lessons = list(
        Lesson.objects.filter(course=course).values_list(
            "id", "week__number", "title", "status", "failure_reason"
        )
    )
    quizzes = list(
        Quiz.objects.filter(course=course).values_list("id", "week__number", "status", "failure_reason")
    )
    statuses = [lesson[3] for lesson in lessons] + [quiz[2] for quiz in quizzes]
    written = statuses.count(PartStatus.WRITTEN)
    failed = [
        FailedPart("lesson", part_id, week, title, reason)
        for part_id, week, title, status, reason in lessons
        if status == PartStatus.FAILED
    ] + [
        FailedPart("quiz", part_id, week, f"Week {week} quiz", reason)
        for part_id, week, status, reason in quizzes
        if status == PartStatus.FAILED
    ]
    failed.sort(key=lambda part: (part.week, part.kind == "quiz"))
    total = len(statuses)
    return CourseProgress(
        status=course.status,
        stage_label=_stage_label(course, written, total, len(failed)),
        parts_written=written,
        parts_total=total,
        parts_failed=len(failed),
        percent=100 if course.status == Course.Status.READY else (100 * written // total if total else 0),
        failed_parts=tuple(failed),
        is_offline=course.is_offline,
        reason=course.status_reason,
    )


def _stage_label(course: Course, written: int, total: int, failed: int) -> str:
    labels = {
        Course.Status.QUEUED: STAGE_QUEUED,
        Course.Status.OUTLINING: STAGE_OUTLINING,
        Course.Status.READY: STAGE_READY,
        Course.Status.FAILED: STAGE_FAILED,
    }
    if course.status in labels:
        return labels[Course.Status(course.status)]
    template = STAGE_WRITING_WITH_FAILURES if failed else STAGE_WRITING
    return template.format(written=written, total=total, failed=failed)


def course_reusable(*, topic_key: str, language: str, weeks: int) -> Course | None:
    """An approved, ready course for the same folded topic, language and length: offered instead of a new one."""
    return (
        Course.objects.filter(
            topic_key=topic_key,
            language=language,
            weeks_count=weeks,
            status=Course.Status.READY,
            review_state=Course.Review.APPROVED,
        )
        .order_by("-featured", "-ready_at")
        .first()
    )


def course_outline(*, course: Course) -> dict[str, Any]:
    """The course's plan, rebuilt from its rows in two queries (weeks, lessons)."""
    weeks = list(Week.objects.filter(course=course).order_by("number"))
    lessons = Lesson.objects.filter(course=course).only("week_id", "number", "title", "summary")
    return outline_document(course=course, weeks=weeks, lessons=list(lessons))


def outline_document(*, course: Course, weeks: list[Week], lessons: list[Lesson]) -> dict[str, Any]:
    """The plan every part prompt quotes (and the offline generator reads), from rows already in hand.

    Same rows, same dict, same JSON: the prompt prefix is byte-identical for every part of a course.
    """
    lessons_of: dict[int, list[Lesson]] = {}
    for lesson in sorted(lessons, key=lambda lesson: lesson.number):
        lessons_of.setdefault(lesson.week_id, []).append(lesson)
    return {
        "topic": course.topic,
        "title": course.title,
        "description": course.description,
        "audience": course.audience,
        "weeks": [
            {
                "number": week.number,
                "title": week.title,
                "overview": week.overview,
                "objectives": week.objectives,
                "lessons": [
                    {"number": lesson.number, "title": lesson.title, "summary": lesson.summary}
                    for lesson in lessons_of.get(week.pk, [])
                ],
            }
            for week in sorted(weeks, key=lambda week: week.number)
        ],
    }


def course_with_outline(*, course_id: Any) -> Course:
    """A course with its weeks, their lessons and quizzes prefetched (for pages that list the outline)."""
    return Course.objects.prefetch_related(
        Prefetch("weeks", queryset=Week.objects.order_by("number").select_related("quiz")),
        Prefetch("weeks__lessons", queryset=Lesson.objects.order_by("number").defer("body", "body_html")),
    ).get(id=course_id)
