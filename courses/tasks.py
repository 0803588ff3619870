"""Celery tasks of the course pipeline: thin wrappers that take ids and call `courses.generation.pipeline`.

Routing (settings.CELERY_TASK_ROUTES): `llm_*` tasks wait on the LLM and go to the "llm" queue (a threads
pool holds many at once); the sweeper goes to "default". Each task is safe to run twice: the services claim
their row before doing anything. LLM retries happen inside `courses.generation.llm`; a task that still fails marks its
part or course failed where a person sees it, so Celery itself only retries on database hiccups.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from celery import Task, shared_task
from celery.signals import worker_process_init
from django.db import DatabaseError

from courses.generation import pipeline
from courses.moderation import regeneration
from courses.quality import report, sources
from courses.reading import exports, notify, pdf
from courses.tutor import answering

# A database hiccup is worth a few retries; an LLM failure is not (courses.generation.llm has already retried it).
RETRY_ON_DATABASE_ERRORS: dict[str, Any] = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(name="courses.tasks.llm_write_outline", **RETRY_ON_DATABASE_ERRORS)
def llm_write_outline(course_id: str) -> None:
    pipeline.course_outline_write(course_id=UUID(course_id))


@shared_task(name="courses.tasks.llm_write_lesson", **RETRY_ON_DATABASE_ERRORS)
def llm_write_lesson(lesson_id: int) -> None:
    pipeline.lesson_write(lesson_id=lesson_id)


@shared_task(name="courses.tasks.llm_write_quiz", **RETRY_ON_DATABASE_ERRORS)
def llm_write_quiz(quiz_id: int) -> None:
    pipeline.quiz_write(quiz_id=quiz_id)


@shared_task(name="courses.tasks.send_course_ready_email", **RETRY_ON_DATABASE_ERRORS)
def send_course_ready_email(course_id: str) -> None:
    notify.course_ended_notify(course_id=UUID(course_id))


@shared_task(name="courses.tasks.sweep_stale_courses")
def sweep_stale_courses() -> dict[str, int]:
    result = pipeline.course_sweep_stale()
    return {
        "outlines_queued": result.outlines_queued,
        "parts_queued": result.parts_queued,
        "courses_finished": result.courses_finished,
    }


# ---------------------------------------------------------------------------------------------------------
# Quality: the report (quick), and the outside lookups (slow I/O, on the "llm" queue by their name)
# ---------------------------------------------------------------------------------------------------------
@shared_task(name="courses.tasks.quality_report", **RETRY_ON_DATABASE_ERRORS)
def quality_report(course_id: str) -> None:
    report.report_compute(course_id=UUID(course_id))


@shared_task(name="courses.tasks.lookup_course_sources", **RETRY_ON_DATABASE_ERRORS)
def lookup_course_sources(course_id: str) -> None:
    sources.course_sources_check(course_id=UUID(course_id))


# ---------------------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------------------
PDF_MAX_RETRIES = 3


@shared_task(
    bind=True,
    name="courses.tasks.render_course_pdf",
    autoretry_for=(OSError,),  # storage hiccups pass: retry with backoff (2, 4, 8 s), then give up visibly
    retry_backoff=2,
    retry_jitter=False,
    max_retries=PDF_MAX_RETRIES,
)
def render_course_pdf(self: Task, course_id: str, version: int) -> None:
    """Render a course's PDF for one content version (routed to the "cpu" queue by its name)."""
    try:
        exports.course_pdf_build(course_id=course_id, version=version)
    except OSError as error:
        if self.request.retries >= PDF_MAX_RETRIES:
            exports.course_pdf_failed(course_id=course_id, version=version, error=repr(error))
            return
        raise
    except Exception as error:  # a layout bug will not fix itself: no retry, but the page must say so
        exports.course_pdf_failed(course_id=course_id, version=version, error=repr(error))
        raise


@worker_process_init.connect
def pdf_warm_up(**kwargs: Any) -> None:
    """Each process of a prefork worker (the "cpu" worker that renders the PDFs: compose.yaml) loads WeasyPrint
    and the fonts as it starts, not while a learner waits for the first PDF."""
    try:
        pdf.pdf_warm_up()
    except Exception:  # e.g. Pango missing: the worker still starts, and each PDF reports the real error
        logging.getLogger(__name__).exception("PDF warm-up failed")


# ---------------------------------------------------------------------------------------------------------
# Moderation: a moderator or requester asked for one part to be written again
# ---------------------------------------------------------------------------------------------------------
@shared_task(
    name="courses.tasks.llm_regenerate_part",
    **RETRY_ON_DATABASE_ERRORS,
)
def llm_regenerate_part(
    kind: str, part_id: int, actor_id: int | None, instruction: str, request_id: str, in_week: bool = False
) -> None:
    regeneration.part_regenerate(
        kind=kind,
        part_id=part_id,
        actor_id=actor_id,
        instruction=instruction,
        request_id=request_id,
        in_week=in_week,
    )


# ---------------------------------------------------------------------------------------------------------
# The tutor: answer a learner's question (streamed into Redis for the page as it is written)
# ---------------------------------------------------------------------------------------------------------
@shared_task(name="courses.tasks.llm_tutor_answer", **RETRY_ON_DATABASE_ERRORS)
def llm_tutor_answer(message_id: int) -> None:
    answering.tutor_answer_write(message_id=message_id)
