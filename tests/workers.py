"""A real Celery worker in the test process, for tests where the broker matters (generation, browser flows)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery.contrib.testing.worker import start_worker
from django.db import connection

from school.celery import app


@contextmanager
def running_worker(concurrency: int = 24) -> Iterator[Any]:
    app.conf.task_always_eager = False
    try:
        with start_worker(
            app,
            pool="threads",
            concurrency=concurrency,
            perform_ping_check=False,
            loglevel="WARNING",
            queues=["llm", "default", "cpu"],
            shutdown_timeout=30,
        ) as worker:
            yield worker
    finally:
        app.conf.task_always_eager = True
        _close_other_connections()


def _close_other_connections() -> None:
    """Worker threads leave connections to the test database open; close them so it can be flushed and dropped."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
