"""When the quality of a course is measured: after it is written and after every edit, off the path to ready.

Two tasks, queued after commit: the report (fast, on the default queue) and, when lookups are on, the outside
checks (`courses.quality.sources`: readings, links, pictures; slow I/O on the "llm" queue), which measure the
report again when they are done.
"""

from __future__ import annotations

from uuid import UUID

from courses.quality import report
from school.queue import enqueue_after_commit


def course_quality_queue(*, course_id: UUID) -> None:
    enqueue_after_commit("courses.tasks.quality_report", str(course_id))
    if report.lookups_enabled():
        enqueue_after_commit("courses.tasks.lookup_course_sources", str(course_id))
