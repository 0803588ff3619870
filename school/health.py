"""Checks behind /healthz: can this process reach the database, the broker and the cache?"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from school.celery import app as celery_app


def database_state() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "up"


def cache_state() -> str:
    probe = f"healthz:{uuid.uuid4().hex}"
    cache.set(probe, "1", timeout=10)
    if cache.get(probe) != "1":
        raise RuntimeError("the cache did not return what was written to it")
    cache.delete(probe)
    return "up"


def broker_state() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "up"


CHECKS = {"database": database_state, "broker": broker_state, "cache": cache_state}


def service_states() -> tuple[bool, dict[str, str]]:
    """(all healthy, each service's state or the error that says why it is down)."""
    states: dict[str, str] = {}
    healthy = True
    for name, check in CHECKS.items():
        try:
            states[name] = check()
        except Exception as error:  # any failure means "down"; the message says why
            healthy = False
            states[name] = f"down: {type(error).__name__}: {error}"[:300]
    return healthy, states
