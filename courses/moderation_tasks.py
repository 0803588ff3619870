"""Moderation's Celery task: regenerating one part. Named like the pipeline's LLM tasks so the same route sends
it to the "llm" queue (settings.CELERY_TASK_ROUTES); loaded through settings.CELERY_IMPORTS."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from courses import regeneration


@shared_task(
    name="courses.tasks.llm_regenerate_part",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def llm_regenerate_part(
    kind: str, part_id: int, actor_id: int | None, instruction: str, request_id: str
) -> None:
    regeneration.part_regenerate(
        kind=kind, part_id=part_id, actor_id=actor_id, instruction=instruction, request_id=request_id
    )
