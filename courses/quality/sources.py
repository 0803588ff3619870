"""The outside checks of a course, run by `courses.tasks.lookup_course_sources`: readings looked up, links
checked, pictures found; then the report is measured again with what they found."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from courses.models import Lesson, Week
from courses.moderation import editing
from courses.quality import links, pictures, readings, report


def course_sources_check(*, course_id: UUID) -> None:
    if report.lookups_enabled():
        before = _reading_lists(course_id)
        readings.course_readings_verify(course_id=course_id)
        urls = links.course_links(
            weeks=Week.objects.filter(course_id=course_id), lessons=Lesson.objects.filter(course_id=course_id)
        )
        links.links_check(urls=urls)
        found = pictures.course_pictures_find(course_id=course_id)
        if found or _reading_lists(course_id) != before:
            # Learners now see more (a picture; readings marked verified, or hidden): a PDF or a page cached
            # before the checks, keyed on the content version, is made again.
            editing.course_content_version_bump(course_id=course_id)
    report.report_compute(course_id=course_id)


def _reading_lists(course_id: UUID) -> list[Any]:
    return list(
        Week.objects.filter(course_id=course_id).order_by("number").values_list("reading_list", flat=True)
    )
