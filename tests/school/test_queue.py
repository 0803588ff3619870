"""school.queue on the one-machine install: tasks run after the response, in one background thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from courses.models import Course
from school.celery import app
from school.queue import (
    background_tasks_wait,
    enqueue_after_commit,
    enqueue_chain_after_commit,
    enqueue_many_after_commit,
)
from tests.factories import written_course

# The background thread has its own database connection: it sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

ran: list[tuple[str, str]] = []
release = threading.Event()


@app.task(name="tests.school.test_queue.record")
def record(label: str) -> None:
    release.wait(timeout=10)
    ran.append((label, threading.current_thread().name))


@app.task(name="tests.school.test_queue.explode")
def explode() -> None:
    raise RuntimeError("a task that fails")


@pytest.fixture
def in_background(settings: Any) -> Any:
    settings.TASKS_IN_BACKGROUND = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    ran.clear()
    release.clear()
    yield
    release.set()
    background_tasks_wait()


def test_a_queued_task_runs_after_the_caller_returns_in_a_background_thread(in_background: None) -> None:
    started = time.monotonic()
    enqueue_after_commit("tests.school.test_queue.record", "one")
    assert time.monotonic() - started < 1  # the caller did not wait for the task
    assert ran == []
    release.set()
    background_tasks_wait()
    assert ran == [("one", "semester-tasks")]


def test_tasks_run_in_the_order_queued_and_a_failure_does_not_stop_the_next(in_background: None) -> None:
    release.set()
    enqueue_after_commit("tests.school.test_queue.explode")
    enqueue_many_after_commit(
        [("tests.school.test_queue.record", ("a",)), ("tests.school.test_queue.record", ("b",))]
    )
    background_tasks_wait()
    assert [label for label, _ in ran] == ["a", "b"]


def test_asking_for_a_course_answers_at_once_and_the_course_is_written_afterwards(
    in_background: None, client: Client
) -> None:
    release.set()
    response = client.post(
        reverse("courses:request"), {"topic": "Sourdough baking", "language": "en", "weeks": "4"}
    )
    course = Course.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("courses:writing", args=[course.id])
    background_tasks_wait()
    course.refresh_from_db()
    assert course.status == Course.Status.READY


def test_a_chain_runs_in_order_and_stops_at_the_first_failure(in_background: None) -> None:
    release.set()
    enqueue_chain_after_commit(
        [
            ("tests.school.test_queue.record", ("first",)),
            ("tests.school.test_queue.explode", ()),
            ("tests.school.test_queue.record", ("never",)),
        ]
    )
    enqueue_after_commit("tests.school.test_queue.record", "independent")
    background_tasks_wait()
    assert [label for label, _ in ran] == ["first", "independent"]


def test_the_pdf_download_shows_its_progress_page_at_once_then_serves_the_file(
    in_background: None, client: Client, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    course = written_course(weeks=1, lessons_per_week=1, review_state="approved")
    url = reverse("courses:export_pdf", args=[course.id])
    started = time.monotonic()
    response = client.get(url)
    assert time.monotonic() - started < 2
    assert response.status_code == 202
    assert "Preparing your PDF" in response.content.decode()
    release.set()
    background_tasks_wait()
    ready = client.get(url)
    assert ready.status_code == 200
    assert b"".join(ready.streaming_content)[:5] == b"%PDF-"  # type: ignore[attr-defined]
