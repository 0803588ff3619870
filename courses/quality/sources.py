"""The outside checks of a course, run by `courses.tasks.lookup_course_sources`: readings looked up, links
checked, pictures found; then the report is measured again with what they found."""

from __future__ import annotations

from uuid import UUID

from courses.models import Lesson, Week
from courses.quality import links, pictures, readings, report


def course_sources_check(*, course_id: UUID) -> None:
    if report.lookups_enabled():
        readings.course_readings_verify(course_id=course_id)
        urls = links.course_links(
            weeks=Week.objects.filter(course_id=course_id), lessons=Lesson.objects.filter(course_id=course_id)
        )
        links.links_check(urls=urls)
        pictures.course_pictures_find(course_id=course_id)
    report.report_compute(course_id=course_id)
