"""The daily spend cap holds where money is spent: every LLM call reserves its worst case in Redis before it is
sent and settles after, so concurrent requesters and parallel parts cannot overspend; a course that meets the
cap pauses, says why, and the sweeper resumes it once there is budget."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from courses import tasks
from courses.generation import llm, prompts, slots
from courses.generation.request import course_request
from courses.models import Course, Lesson, LLMCall, PartStatus
from courses.moderation import costs
from school.celery import app
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = (10.0, 5.0, 40.0)  # dollars per million tokens: a few cents a call, so a small cap is soon met


@pytest.fixture
def priced(settings: Any, fake_openai: FakeOpenAI) -> FakeOpenAI:
    settings.LLM_PRICES_PER_MILLION = {"fake-model": PRICE}
    settings.LLM_MAX_CONCURRENCY = 50
    return fake_openai


def outline_prompt() -> prompts.Prompt[Any]:
    return prompts.outline_prompt(topic="Roman aqueducts", language="en", weeks=4)


def worst_case(prompt: prompts.Prompt[Any]) -> float:
    chars = sum(len(str(message.get("content", ""))) for message in prompt.messages) + 20_000
    return costs.call_worst_case_usd(model="fake-model", prompt_chars=chars, max_tokens=prompt.max_tokens)


def test_50_concurrent_callers_never_spend_more_than_the_cap_plus_one_calls_worst_case(
    priced: FakeOpenAI, settings: Any
) -> None:
    prompt = outline_prompt()
    one_call = worst_case(prompt)
    settings.LLM_DAILY_SPEND_CAP_USD = 12 * one_call  # far fewer calls than the 200 asked for
    outcomes: list[str] = []
    lock = threading.Lock()

    def caller(_: int) -> None:
        try:
            for _ in range(4):
                try:
                    llm.complete(prompt, course=None)
                    outcome = "ok"
                except llm.SpendCapReached:
                    outcome = "refused"
                with lock:
                    outcomes.append(outcome)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(caller, range(50)))

    spent = costs.spend_today_usd()
    assert outcomes.count("refused") > 100
    assert 0 < outcomes.count("ok") == LLMCall.objects.filter(outcome=LLMCall.Outcome.OK).count()
    assert spent <= settings.LLM_DAILY_SPEND_CAP_USD + one_call
    assert costs.spend_reserved_today_usd() == pytest.approx(spent, abs=1e-5)  # every reservation settled


def test_1000_parallel_part_calls_never_spend_more_than_the_cap_plus_one_calls_worst_case(
    settings: Any,
) -> None:
    """1,000 threads released at once, at the start of a day (no counter in Redis yet), each through the real
    slot and reservation (`llm_slot`, `spend_reserve`, the call, `spend_settle` with what it really used), in
    one process. The reservation is called directly, not through `llm.complete`: the fake OpenAI server (a
    listen queue of 256) and PostgreSQL (100 connections, one per thread that records a call) cannot hold
    1,000 calls at once, while Redis, where the cap is enforced, can. (redis-py's default pool could not:
    "Too many connections" past 100 threads.)"""
    settings.LLM_PRICES_PER_MILLION = {"fake-model": PRICE}
    settings.LLM_MAX_CONCURRENCY = 1_000  # every part in flight at once
    chars, max_tokens = 30_000, 4_000
    one_call = costs.call_worst_case_usd(model="fake-model", prompt_chars=chars, max_tokens=max_tokens)
    settings.LLM_DAILY_SPEND_CAP_USD = 150 * one_call
    start = threading.Barrier(1_000)
    spent: list[float] = []
    refused: list[int] = []
    lock = threading.Lock()

    def reserve_call_settle(rng: random.Random) -> float | None:
        """What `llm._within_budget` does around a call: the real cost, or None when refused."""
        try:
            reservation = costs.spend_reserve(model="fake-model", prompt_chars=chars, max_tokens=max_tokens)
        except costs.SpendCapReached:
            return None
        time.sleep(rng.uniform(0, 0.05))  # the call in flight, while others reserve and settle
        usage = llm.Usage(
            prompt_tokens=rng.randint(1, chars // costs.CHARS_PER_TOKEN),
            completion_tokens=rng.randint(1, max_tokens),
            cached_tokens=0,
        )
        costs.spend_settle(reservation=reservation, model="fake-model", usage=usage)
        return costs.call_cost_usd(
            model="fake-model", prompt_tokens=usage.prompt_tokens, cached_tokens=0,
            completion_tokens=usage.completion_tokens,
        )  # fmt: skip

    def part_call(number: int) -> None:
        try:
            start.wait()
            with slots.llm_slot():  # as `llm._attempt` holds one around each call
                real = reserve_call_settle(random.Random(number))
            with lock:
                if real is None:
                    refused.append(number)
                else:
                    spent.append(real)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1_000) as pool:
        list(pool.map(part_call, range(1_000)))

    assert len(spent) + len(refused) == 1_000
    assert refused  # the cap was met
    assert len(spent) >= 150  # and calls that cost less than their worst case made room for more
    assert sum(spent) <= settings.LLM_DAILY_SPEND_CAP_USD + one_call
    # Every reservation settled: the counter holds what the calls really cost.
    assert costs.spend_reserved_today_usd() == pytest.approx(sum(spent), abs=1e-3)


def test_a_failed_call_settles_its_reservation_to_what_it_cost(priced: FakeOpenAI, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 0
    priced.fail_next("500")
    with pytest.raises(llm.LLMError):
        llm.complete(outline_prompt(), course=None)
    assert costs.spend_reserved_today_usd() == pytest.approx(costs.spend_today_usd(), abs=1e-6)


def test_a_course_that_meets_the_cap_pauses_says_why_and_resumes_when_budget_returns(
    priced: FakeOpenAI, settings: Any, client: Client
) -> None:
    app.conf.task_always_eager = False
    try:
        course = course_request(topic="Roman aqueducts", language="en", weeks=4, user=None, ip=None).course
        tasks.llm_write_outline(str(course.id))
    finally:
        app.conf.task_always_eager = True
    settings.LLM_DAILY_SPEND_CAP_USD = costs.spend_today_usd() + 1e-6  # the outline used the budget up
    lesson = Lesson.objects.filter(course=course).first()
    assert lesson is not None
    calls_before = LLMCall.objects.count()

    tasks.llm_write_lesson(lesson.id)

    lesson.refresh_from_db()
    course.refresh_from_db()
    assert lesson.status == PartStatus.PENDING
    assert LLMCall.objects.count() == calls_before  # nothing was sent
    assert course.status == Course.Status.WRITING
    assert course.status_reason == costs.PAUSED_FOR_BUDGET
    page = client.get(f"/courses/{course.id}/writing/").content.decode()
    assert "today&#x27;s writing budget is spent" in page or "today's writing budget is spent" in page

    settings.LLM_DAILY_SPEND_CAP_USD = 50.0  # budget is back (a new day, or a higher cap)
    stale = timezone.now() - timedelta(seconds=settings.GENERATION_STALE_AFTER_SECONDS + 1)
    Course.objects.filter(id=course.id).update(heartbeat_at=stale)
    tasks.sweep_stale_courses()

    course.refresh_from_db()
    assert course.status == Course.Status.READY
    assert course.status_reason == ""
