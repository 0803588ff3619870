"""Exactly once per subscriber and week, counted at the fake SendGrid: a task run twice, two dispatchers at
once, and a worker killed in the middle of a batch. Real PostgreSQL row locks, so real transactions."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from accounts.models import User
from courses.models import Course
from delivery.email import dispatch as dispatcher
from delivery.email.dispatch import planning
from delivery.models import Delivery, Subscription
from delivery.tasks import dispatch_due_lessons, reconcile_stuck_deliveries, send_week_batch
from tests.factories import written_course
from tests.fakes.sendgrid_server import FakeSendGrid, WebhookSigner, event, webhook_body

pytestmark = pytest.mark.django_db(transaction=True)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _subscribers(courses: list[Course], per_course_week: int, weeks: int = 3) -> set[tuple[int, int]]:
    """Active subscriptions all due now; returns the (subscription id, week) pairs that must be sent."""
    now = timezone.now()
    expected = set()
    for course in courses:
        for week in range(1, weeks + 1):
            users = User.objects.bulk_create(
                User(email=f"c{str(course.id)[:8]}w{week}n{n}@example.com") for n in range(per_course_week)
            )
            rows = Subscription.objects.bulk_create(
                Subscription(
                    user=u, email=u.email, course=course, status="active", next_week=week, next_send_at=now
                )
                for u in users
            )
            expected |= {(row.id, week) for row in rows}
    return expected


def _sent_at_fake(fake: FakeSendGrid) -> Counter[tuple[int, int]]:
    """(subscription id, week) of every message the fake accepted, with how many times."""
    ids = [int(m.custom_args["delivery_id"]) for m in fake.messages]
    rows = dict(Delivery.objects.filter(id__in=ids).values_list("id", "subscription_id"))
    weeks = dict(Delivery.objects.filter(id__in=ids).values_list("id", "week_number"))
    return Counter((rows[i], weeks[i]) for i in ids)


def _in_threads(*targets: Callable[[], Any]) -> None:
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as error:  # surfaced below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def test_a_send_task_run_twice_at_once_sends_each_week_once(sendgrid: FakeSendGrid) -> None:
    course = written_course(weeks=4, lessons_per_week=1)
    expected = _subscribers([course], per_course_week=40, weeks=1)
    dispatcher.due_deliveries_plan(now=timezone.now())  # the ledger rows, without queueing their task
    sendgrid.latency = 0.3

    _in_threads(*[lambda: send_week_batch.apply(args=(str(course.id), 1)) for _ in range(2)])
    send_week_batch.apply(args=(str(course.id), 1))  # and once more, after both

    assert _sent_at_fake(sendgrid) == Counter(dict.fromkeys(expected, 1))
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_two_dispatchers_at_once_send_each_week_once(sendgrid: FakeSendGrid, monkeypatch: Any) -> None:
    monkeypatch.setattr(planning, "PLAN_CHUNK", 25)  # small chunks, so the two interleave
    courses = [written_course(weeks=4, lessons_per_week=1) for _ in range(2)]
    expected = _subscribers(courses, per_course_week=50)
    sendgrid.latency = 0.05
    now = timezone.now()
    results: list[dispatcher.DispatchResult] = []

    _in_threads(*[lambda: results.append(dispatcher.dispatch_due(now=now)) for _ in range(2)])

    assert all(result.planned for result in results), "both dispatchers took a share of the work"
    assert sum(result.planned for result in results) == len(expected) == 300
    assert _sent_at_fake(sendgrid) == Counter(dict.fromkeys(expected, 1))
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 300


def test_a_worker_killed_mid_batch_leaves_no_duplicate_and_no_miss_once_reconciled(
    sendgrid: FakeSendGrid, signer: WebhookSigner, settings: Any
) -> None:
    courses = [written_course(weeks=4, lessons_per_week=1) for _ in range(2)]
    expected = _subscribers(courses, per_course_week=20)  # 6 course-weeks of 20
    sendgrid.latency = 1.0
    worker = _dispatcher_process(sendgrid)
    try:
        _wait_for(lambda: len(sendgrid.requests) >= 2, seconds=60)
        time.sleep(0.5)  # the third request is now in flight
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    time.sleep(1.5)  # the fake finishes (and accepts) the request the dead worker was waiting on
    statuses = Counter(Delivery.objects.values_list("status", flat=True))
    # The one-machine install runs queued tasks in order in one background thread: both courses were planned
    # before the first batch went out, so the second course's rows wait, planned, for batches that died too.
    assert statuses == {Delivery.Status.SENT: 40, Delivery.Status.SENDING: 20, Delivery.Status.PENDING: 60}, (
        statuses  # one answer lost
    )
    assert len(sendgrid.messages) == 60  # 3 batches reached SendGrid, though only 2 were recorded as sent

    _post_sendgrid_events(sendgrid, signer)  # SendGrid reports what it accepted, carrying our ledger ids
    later = timezone.now() + datetime.timedelta(seconds=settings.DELIVERY_STUCK_AFTER_SECONDS + 60)
    with time_machine.travel(later, tick=False):
        reconcile_stuck_deliveries.apply()  # the beat's every-five-minutes entry
        dispatch_due_lessons.apply()  # and its every-minute entry

    assert _sent_at_fake(sendgrid) == Counter(dict.fromkeys(expected, 1))
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def _dispatcher_process(fake: FakeSendGrid) -> subprocess.Popen[bytes]:
    """`manage.py send_due_lessons` in its own process, on the test database, sending to the fake."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "school.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "tests-only-secret-key-that-is-long-enough-0123456789"),
        "SENDGRID_API_KEY": "SG.test",
        "SENDGRID_API_HOST": fake.host_url,
        "DEFAULT_FROM_EMAIL": "Semester <semester@semester.test>",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)  # tasks in-process: killing it kills the "worker" mid-batch
    command = [sys.executable, "manage.py", "send_due_lessons"]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _post_sendgrid_events(fake: FakeSendGrid, signer: WebhookSigner) -> None:
    events = [event("processed", email=m.to, delivery_id=m.custom_args["delivery_id"]) for m in fake.messages]
    body = webhook_body(events)
    response = Client().post(
        "/webhooks/sendgrid", body, content_type="application/json", headers=signer.headers(body)
    )
    assert response.status_code == 200, response.content
