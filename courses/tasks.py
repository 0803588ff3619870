"""Celery tasks of the course pipeline: thin wrappers that take ids and call `courses.services`.

Routing (settings.CELERY_TASK_ROUTES): `llm_*` tasks wait on the LLM and go to the "llm" queue (a threads
pool holds many at once); the sweeper goes to "default". Each task is safe to run twice: the services claim
their row before doing anything. LLM retries happen inside `courses.llm`; a task that still fails marks its
part or course failed where a person sees it, so Celery itself only retries on database hiccups.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from celery import Task, current_app, group, shared_task
from django.db import DatabaseError

from courses import services

# A database hiccup is worth a few retries; an LLM failure is not (courses.llm has already retried it).
RETRY_ON_DATABASE_ERRORS: dict[str, Any] = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(name="courses.tasks.llm_write_outline", **RETRY_ON_DATABASE_ERRORS)
def llm_write_outline(course_id: str) -> None:
    services.course_outline_write(course_id=UUID(course_id))


@shared_task(name="courses.tasks.llm_write_lesson", **RETRY_ON_DATABASE_ERRORS)
def llm_write_lesson(lesson_id: int) -> None:
    services.lesson_write(lesson_id=lesson_id)


@shared_task(name="courses.tasks.llm_write_quiz", **RETRY_ON_DATABASE_ERRORS)
def llm_write_quiz(quiz_id: int) -> None:
    services.quiz_write(quiz_id=quiz_id)


@shared_task(name="courses.tasks.sweep_stale_courses")
def sweep_stale_courses() -> dict[str, int]:
    result = services.course_sweep_stale()
    return {
        "outlines_queued": result.outlines_queued,
        "parts_queued": result.parts_queued,
        "courses_finished": result.courses_finished,
    }


def parts_write(parts: list[tuple[str, int]]) -> None:
    """Send every ("lesson" | "quiz", id) part at once, as one group; no chord: the database tracks completion.

    The messages go out in one batch (one Redis pipeline) rather than one LPUSH each: a course's ~58 round
    trips, each waiting for the GIL again while the first parts already run in the same worker, spread the
    parts' start over a few hundred milliseconds."""
    signatures: dict[str, Task[[int], None]] = {"lesson": llm_write_lesson, "quiz": llm_write_quiz}
    with current_app.producer_or_acquire() as producer, producer.batch():
        group(signatures[kind].si(part_id) for kind, part_id in parts).apply_async(producer=producer)


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
