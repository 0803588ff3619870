"""Celery tasks of the courses app. Each takes ids, calls a service, and is safe to run twice."""

from __future__ import annotations

from celery import Task, shared_task

# ---------------------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------------------
PDF_MAX_RETRIES = 3


@shared_task(bind=True, name="courses.tasks.render_course_pdf", max_retries=PDF_MAX_RETRIES)
def render_course_pdf(self: Task, course_id: str, version: int) -> None:
    """Render a course's PDF for one content version (routed to the "cpu" queue by its name)."""
    from courses import exports  # exports queues this task: import at call time to break the cycle

    try:
        exports.course_pdf_build(course_id=course_id, version=version)
    except OSError as error:  # storage hiccups pass; retry with backoff, then give up visibly
        if self.request.retries < PDF_MAX_RETRIES:
            raise self.retry(exc=error, countdown=2 ** (self.request.retries + 1)) from error
        exports.course_pdf_failed(course_id=course_id, version=version, error=repr(error))
    except Exception as error:  # a layout bug will not fix itself: no retry, but the page must say so
        exports.course_pdf_failed(course_id=course_id, version=version, error=repr(error))
        raise
