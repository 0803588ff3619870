"""The global cap on LLM calls in flight, against the real Redis (and the in-process fallback)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import pytest
import redis
from django.db import connections

from courses.generation import llm, prompts, slots
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)  # calls are recorded from many threads


@pytest.fixture(autouse=True)
def no_slots_held(settings: Any) -> None:
    """Start from a free cap: a worker killed by an earlier test (test_generation_celery) leaves its slots held
    in the shared Redis until their lease ends, which would leave these tests fewer than they count on."""
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(slots.SLOTS_KEY)


def quiz_prompt() -> prompts.Prompt[Any]:
    outline = prompts.outline_json({"title": "Aqueducts", "weeks": []})
    lessons = {
        1: "## Aqueducts\n\nRome drew its water from springs. Gravity carried it along gentle gradients."
    }
    return prompts.quiz_prompt(
        language="en", outline_json=outline, week=1, title="Aqueducts", lessons=lessons
    )


def call_llm(_: int) -> None:
    try:
        llm.complete(quiz_prompt(), course=None)
    finally:
        connections.close_all()  # this thread's connection, so the test database can be flushed


def test_calls_in_flight_never_exceed_the_cap_across_threads(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.LLM_MAX_CONCURRENCY = 4
    # The fixture's 0.5 s timeout left a busy machine 0.2 s: a call timed out, was retried, and counted twice.
    settings.LLM_TIMEOUT_SECONDS = 10
    fake_openai.latency = 0.3  # long enough for four calls to overlap even on a busy machine

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(call_llm, range(24)))

    assert len(fake_openai.calls()) == 24
    assert fake_openai.max_in_flight == 4
    assert slots.slots_in_use() == 0


def test_without_redis_an_in_process_semaphore_caps_calls(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.REDIS_URL = ""
    settings.LLM_MAX_CONCURRENCY = 3
    fake_openai.latency = 0.1

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(call_llm, range(12)))

    assert fake_openai.max_in_flight == 3


def test_a_dead_workers_slots_come_back_when_their_lease_ends(settings: Any) -> None:
    settings.LLM_MAX_CONCURRENCY = 2
    settings.LLM_SLOT_LEASE_SECONDS = 0.5
    dead_workers: list[AbstractContextManager[None]] = [slots.llm_slot(), slots.llm_slot()]
    for held in dead_workers:
        held.__enter__()  # taken and never given back, as by a worker killed mid-call
    assert slots.slots_in_use() == 2

    started = time.monotonic()
    with slots.llm_slot():
        waited = time.monotonic() - started

    assert 0.4 <= waited < 3
    assert len(dead_workers) == 2  # still referenced: their slots expired, they were not released
