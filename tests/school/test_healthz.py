from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client, override_settings

from school.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
NOBODY_LISTENS = "redis://127.0.0.1:1/0"


@pytest.fixture
def real_broker() -> Iterator[None]:
    """Health checks look at the broker only when tasks go through one (not in-process)."""
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        yield


@pytest.mark.django_db
def test_it_reports_every_service_up(client: Client, real_broker: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up", "broker": "up", "cache": "up"}


@pytest.mark.django_db
def test_it_answers_503_when_the_broker_is_down(
    client: Client, real_broker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(celery_app.conf, "broker_url", NOBODY_LISTENS)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"].startswith("down:")
    assert body["database"] == "up"


@pytest.mark.django_db
def test_it_answers_503_when_the_cache_is_down(client: Client) -> None:
    broken = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": NOBODY_LISTENS}
    }
    with override_settings(CACHES=broken):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["cache"].startswith("down:")


def test_it_answers_503_when_the_database_is_down() -> None:
    # The test database connection is set up once per run, so a fresh process points at a dead server.
    code = (
        "import django, json; django.setup(); from django.test import Client;"
        "r = Client().get('/healthz'); print(r.status_code, json.dumps(r.json()))"
    )
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/test",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    status, body = result.stdout.split(" ", 1)
    assert status == "503", result.stderr
    assert json.loads(body)["database"].startswith("down:")


@pytest.mark.django_db
def test_it_says_tasks_run_in_process_when_there_is_no_broker(client: Client) -> None:
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["broker"] == "in-process"
