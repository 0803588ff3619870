"""The Celery app. Configuration lives in settings (CELERY_*); tasks live in each app's tasks.py."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "school.settings")

app = Celery("school")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def close_stale_connections(task: Task | None = None, **kwargs: Any) -> None:
    """Around each task, what Django does around each request: keep the thread's connection for CONN_MAX_AGE,
    drop it if it broke or failed its health check (settings.CELERY_DB_REUSE_MAX stops Celery's own close).
    Not for eager tasks: they run inside their caller's transaction."""
    if task is not None and not task.request.is_eager:
        from django.db import close_old_connections

        close_old_connections()
