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
def close_old_connections(task: Task, **kwargs: Any) -> None:
    """What Django does before each request: drop connections past CONN_MAX_AGE or broken. (Not for eager
    tasks: they run inside their caller's transaction.)"""
    if not task.request.is_eager:
        from django.db import close_old_connections

        close_old_connections()
