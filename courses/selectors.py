"""Reads of courses. Writes live in services.py."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.db.models import Prefetch

from courses.models import Course, Lesson, Week


# ---------------------------------------------------------------------------------------------------------
# Weekly email delivery: what the dispatcher and the emails read of a course.
# ---------------------------------------------------------------------------------------------------------
def course_is_emailable(course: Course) -> bool:
    """May this course's weeks be emailed now? Written, and not rejected or held back by moderation.

    The one place that decides it: the subscribe form, the dispatcher and every send ask here.
    """
    return course.status == Course.Status.READY and course.review_state != Course.Review.REJECTED


def courses_for_delivery(*, course_ids: Iterable[UUID | str]) -> dict[UUID, Course]:
    """Courses by id (whole rows: `course_is_emailable` may read any field)."""
    return {course.id: course for course in Course.objects.filter(id__in=list(course_ids))}


def week_for_email(*, course_id: UUID | str, number: int) -> Week:
    """A week with its course, lessons (in order) and quiz, in three queries."""
    return (
        Week.objects.select_related("course", "quiz")
        .prefetch_related(Prefetch("lessons", queryset=Lesson.objects.order_by("number")))
        .get(course_id=course_id, number=number)
    )


def weeks_outline_for_email(*, course_id: UUID | str) -> list[Week]:
    """Every week's number and title, for calendars of what is coming."""
    return list(Week.objects.filter(course_id=course_id).only("id", "number", "title").order_by("number"))
