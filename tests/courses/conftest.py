"""Fixtures for the generation pipeline: the fake OpenAI server, and a real Celery worker when the broker matters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from school.celery import app
from tests.fakes.libraries_server import FakeLibraries
from tests.fakes.openai_server import FakeOpenAI
from tests.workers import running_worker


@pytest.fixture
def fake_openai(settings: Any) -> Iterator[FakeOpenAI]:
    """The fake OpenAI API on loopback, with settings pointing the real SDK at it; fast timeouts and backoff."""
    fake = FakeOpenAI(latency=0.0).start()
    fake.retry_after = "0.05"
    fake.timeout_sleep = 2.0
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_BASE_URL = fake.base_url
    settings.OPENAI_MODEL = "fake-model"
    settings.LLM_TIMEOUT_SECONDS = 0.5
    settings.LLM_BACKOFF_BASE_SECONDS = 0.001
    settings.LLM_BACKOFF_MAX_SECONDS = 2.0
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def offline(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""


@pytest.fixture
def queued_only() -> Iterator[None]:
    """Tasks go to the real broker and no worker takes them: the test runs each one by hand (or starts one)."""
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = True


@pytest.fixture
def celery_worker() -> Iterator[Any]:
    """A real worker in this process (threads pool) consuming the real Redis broker; tasks are not eager.

    Needs `django_db(transaction=True)`: the worker's threads have their own database connections, so they
    see only committed rows.
    """
    with running_worker() as worker:
        yield worker


@pytest.fixture
def libraries(settings: Any) -> Iterator[FakeLibraries]:
    """Open Library, Crossref, Wikimedia Commons and web pages faked on loopback; lookups on, quick retries."""
    fake = FakeLibraries().start()
    fake.settings_for(settings)
    settings.QUALITY_LOOKUPS = True
    settings.LOOKUPS_TIMEOUT_SECONDS = 2.0
    settings.LOOKUPS_MAX_RETRIES = 2
    try:
        yield fake
    finally:
        fake.stop()
