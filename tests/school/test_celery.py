from __future__ import annotations

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from courses.tasks import sweep_stale_courses
from school.celery import app, close_stale_connections


@pytest.fixture
def persistent_connection(transactional_db: None) -> object:
    connection.ensure_connection()
    max_age, connection.settings_dict["CONN_MAX_AGE"] = connection.settings_dict["CONN_MAX_AGE"], 60
    connection.close_at = None
    yield connection.connection
    connection.settings_dict["CONN_MAX_AGE"] = max_age


def test_a_worker_keeps_its_database_connection_from_one_task_to_the_next(
    persistent_connection: object,
) -> None:
    fixup = DjangoWorkerFixup(app)
    fixup.on_task_prerun(sender=sweep_stale_courses)
    close_stale_connections(task=sweep_stale_courses)
    fixup.on_task_postrun(sender=sweep_stale_courses)
    close_stale_connections(task=sweep_stale_courses)
    assert connection.connection is persistent_connection


def test_a_worker_drops_a_connection_that_broke_during_a_task(persistent_connection: object) -> None:
    connection.errors_occurred = True
    connection.connection.close()  # type: ignore[union-attr]
    close_stale_connections(task=sweep_stale_courses)
    assert connection.connection is None
