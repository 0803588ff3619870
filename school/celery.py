"""The Celery app. Configuration lives in settings (CELERY_*); tasks live in each app's tasks.py."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "school.settings")

app = Celery("school")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def close_unusable_connections(sender: Task | None = None, **kwargs: Any) -> None:
    """Between tasks, what Django does between requests: keep the thread's connection for CONN_MAX_AGE,
    drop it if it broke or failed its health check (settings.CELERY_DB_REUSE_MAX stops Celery's own close)."""
    if sender is not None and not getattr(sender.request, "is_eager", False):
        close_old_connections()
