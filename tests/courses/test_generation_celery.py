"""The pipeline through real Celery workers, the real Redis broker and PostgreSQL, against the fake LLM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from courses import tasks
from courses.generation.request import course_request
from courses.models import Course, Lesson, LLMCall, PartStatus, Quiz, Week
from tests.fakes.openai_server import FakeOpenAI
from tests.workers import running_worker

pytestmark = pytest.mark.django_db(transaction=True)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Any, timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {condition.__name__}")
        time.sleep(interval)


def status_of(course: Course) -> str:
    return Course.objects.values_list("status", flat=True).get(id=course.id)


def part_statuses(course: Course) -> list[str]:
    lessons = Lesson.objects.filter(course=course).values_list("status", flat=True)
    return [*lessons, *Quiz.objects.filter(course=course).values_list("status", flat=True)]


def assert_written_once(course: Course, weeks: int) -> None:
    assert Week.objects.filter(course=course).count() == weeks
    assert Quiz.objects.filter(course=course).count() == weeks
    lessons = Lesson.objects.filter(course=course)
    assert lessons.values("week", "number").distinct().count() == lessons.count()
    assert not lessons.exclude(status=PartStatus.WRITTEN).exists()
    assert not Quiz.objects.filter(course=course).exclude(status=PartStatus.WRITTEN).exists()


def test_a_13_week_course_is_written_end_to_end_by_a_worker(
    fake_openai: FakeOpenAI, celery_worker: Any
) -> None:
    fake_openai.latency = 0.05
    course = course_request(
        topic="The history of mathematics", language="en", weeks=13, user=None, ip=None
    ).course

    wait_for(lambda: status_of(course) == Course.Status.READY, timeout=90)

    assert_written_once(course, weeks=13)
    parts = Lesson.objects.filter(course=course).count() + 13
    assert parts >= 52
    assert len(fake_openai.calls()) == 1 + parts
    assert (
        LLMCall.objects.filter(course=course, outcome="ok").exclude(stage="moderation").count() == 1 + parts
    )
    assert fake_openai.max_in_flight > 1  # the parts really were written side by side
    lesson_calls = LLMCall.objects.filter(course=course, stage="lesson")
    assert lesson_calls.filter(cached_tokens__gt=0).count() >= lesson_calls.count() - 1


def test_a_course_survives_a_worker_killed_mid_course(
    fake_openai: FakeOpenAI, settings: Any, queued_only: None
) -> None:
    fake_openai.latency = 0.4
    settings.GENERATION_PART_LEASE_SECONDS = 2
    settings.GENERATION_STALE_AFTER_SECONDS = 2
    doomed = start_subprocess_worker(fake_openai)
    try:
        course = course_request(topic="Volcanoes", language="en", weeks=4, user=None, ip=None).course

        def some_written_and_some_just_claimed() -> bool:
            # Claimed under 0.2 s ago, so its 0.4 s call is surely still running when the kill lands.
            just = {
                "course": course,
                "status": PartStatus.WRITING,
                "claimed_at__gt": timezone.now() - timedelta(seconds=0.2),
            }
            claimed = Lesson.objects.filter(**just).exists() or Quiz.objects.filter(**just).exists()
            return claimed and part_statuses(course).count(PartStatus.WRITTEN) >= 2

        wait_for(some_written_and_some_just_claimed, timeout=60, interval=0.01)
    finally:
        doomed.send_signal(signal.SIGKILL)  # no warm shutdown: claimed parts and unacked messages stay behind
        doomed.wait(timeout=10)
    assert status_of(course) == Course.Status.WRITING
    assert PartStatus.WRITING in part_statuses(course)  # claimed by the dead worker, never to be stored by it

    fake_openai.latency = 0.0
    with running_worker():
        time.sleep(2.1)  # the dead worker's leases expire; the new worker drains what was never taken
        deadline = time.monotonic() + 60
        swept = 0
        while status_of(course) != Course.Status.READY and time.monotonic() < deadline:
            swept += tasks.sweep_stale_courses()["parts_queued"]  # what beat runs every minute
            time.sleep(0.5)

    assert status_of(course) == Course.Status.READY
    assert swept >= 1  # the dead worker's claimed parts came back through the sweeper
    assert_written_once(course, weeks=4)


def start_subprocess_worker(fake: FakeOpenAI) -> subprocess.Popen[bytes]:
    """A separate `celery worker` process on this test database and broker, which the test can SIGKILL."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "school.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_MODEL": "fake-model",
        "LLM_TIMEOUT_SECONDS": "5",
        "LLM_BACKOFF_BASE_SECONDS": "0.01",
    }
    command = [sys.executable, "-m", "celery", "-A", "school", "worker", "-Q", "llm,default,cpu"]
    command += ["--pool", "threads", "--concurrency", "3", "--loglevel", "WARNING"]
    command += ["--without-heartbeat", "--without-mingle", "--without-gossip"]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
