"""Weekly delivery at scale: 100,000 confirmed subscriptions due in the same minute, 200 courses × 13 weeks.

    .venv/bin/python bench/bench_delivery.py

Runs on this machine's PostgreSQL (its own database, sem_bench_delivery, created and dropped here) and Redis,
against the fake SendGrid in its own process with 50 ms latency per request, with real Celery workers
(threads pool) started by the script. Two runs:

1. clean: the beat's dispatcher task is queued once; wall time until SendGrid accepted all 100,000, emails per
   second, HTTP requests made (target: at most course-weeks + N/1,000), peak memory of the workers;
2. crash: the same, but one worker is killed (SIGKILL) once 30% are accepted and started again; SendGrid's
   events for what it accepted are posted to the signed webhook, and the beat's reconcile and dispatch
   entries run until every week is sent. Duplicates and misses are counted at the fake (targets: 0 and 0).

Knobs (environment): BENCH_SUBSCRIPTIONS, BENCH_COURSES, BENCH_WORKERS, BENCH_THREADS, BENCH_LATENCY,
BENCH_REDIS_URL.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import (  # noqa: E402
    cpu_seconds,
    database_create,
    database_drop,
    django_environ,
    mail_environ,
    peak_rss_mb,
    redis_flush,
)
from tests.fakes.sendgrid_server import WebhookSigner, event, webhook_body  # noqa: E402

N = int(os.environ.get("BENCH_SUBSCRIPTIONS", "100000"))
COURSES = int(os.environ.get("BENCH_COURSES", "200"))
WEEKS = 13
LESSONS_PER_WEEK = 4
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "16"))
LATENCY = float(os.environ.get("BENCH_LATENCY", "0.05"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DATABASE = "sem_bench_delivery"
TIMEZONES = [
    "UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Kolkata",
    "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo", "Africa/Lagos",
]  # fmt: skip
LESSON = """## Why it matters

{topic} looks simple from far away, and gets interesting close up. This lesson walks through one idea
with a worked example, then asks you to try it on something of your own.

## The idea

- First, name the parts: what goes in, what comes out, and what stays the same.
- Then watch one part change while the others hold still.
- Finally, put the parts back together and check the result against your guess.

> A good question is worth more than a quick answer.

## Worked example

Take a small, concrete case and follow each step. Write down what you expect before you look, then compare.
The gap between the two is where the learning happens; keep a note of it for the quiz at the end of the week.

## Try it

Spend ten minutes on a case from your own life. What surprised you? What would you test next?
"""
SIGNER = WebhookSigner()


def main() -> None:
    # The fake's stderr holds only broken-pipe traces of the requests the killed worker left behind.
    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_sendgrid_recorder.py"), "--latency", str(LATENCY)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    workers: list[subprocess.Popen[bytes]] = []
    try:
        assert fake.stdout is not None
        fake_url = fake.stdout.readline().strip().removeprefix("listening on ")
        _configure(fake_url)
        database_create(DATABASE)
        import django

        django.setup()
        _run(fake_url, workers, fake.pid)
    finally:
        for worker in workers:
            _stop(worker)
        fake.terminate()
        fake.wait(timeout=10)
        from django.db import connections

        connections.close_all()
        database_drop(DATABASE)


def _configure(fake_url: str) -> None:
    os.environ.update(
        django_environ(
            DATABASE,
            REDIS_URL,
            **mail_environ(fake_url, SIGNER.public_key_b64),
            # Settle rows of a killed worker after 10 s instead of 15 min, so the crash run ends quickly.
            DELIVERY_STUCK_AFTER_SECONDS="10",
        )
    )


def _run(fake_url: str, workers: list[subprocess.Popen[bytes]], fake_pid: int) -> None:
    from django.core.management import call_command

    redis_flush(REDIS_URL)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    now = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
    courses = _seed_courses()
    expected = _seed_subscriptions(courses, now)
    print(f"seeded {len(courses)} courses × {WEEKS} weeks and {len(expected):,} subscriptions due at {now:%H:%M} UTC "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])  # other work on this machine
    fake_cpu = cpu_seconds(fake_pid)
    clean = _clean_run(fake_url, workers, expected)
    clean["fake_cpu"], clean["load"] = cpu_seconds(fake_pid) - fake_cpu, load
    _reset(fake_url, expected)
    crash = _crash_run(fake_url, workers, expected)
    _report(clean, crash, len(courses) * WEEKS)


# ---------------------------------------------------------------------------------------------------------
# Seeding: content with bulk_create, 100,000 users and subscriptions with COPY
# ---------------------------------------------------------------------------------------------------------
def _seed_courses() -> list[Any]:
    from django.utils import timezone

    from courses.models import Course, Lesson, PartStatus, Quiz, Week
    from courses.rendering import markdown_to_safe_html

    now = timezone.now()
    courses = Course.objects.bulk_create(
        Course(
            topic=f"Topic {n}", topic_key=f"topic {n}", title=f"An introduction to topic {n}", weeks_count=WEEKS,
            status=Course.Status.READY, review_state=Course.Review.APPROVED, generator="bench", ready_at=now,
        )
        for n in range(COURSES)
    )  # fmt: skip
    weeks = Week.objects.bulk_create(
        Week(course=c, number=w, title=f"Week {w} of {c.topic}", overview=f"This week covers part {w} of **{c.topic}**.",
             objectives=[f"Understand idea {w}.{k}" for k in (1, 2, 3)])
        for c in courses for w in range(1, WEEKS + 1)
    )  # fmt: skip
    body = LESSON.format(topic="The topic")
    body_html = markdown_to_safe_html(body)
    Lesson.objects.bulk_create(
        (
            Lesson(course_id=w.course_id, week=w, number=m, title=f"Lesson {w.number}.{m}", body=body, body_html=body_html,
                   status=PartStatus.WRITTEN, written_at=now)
            for w in weeks for m in range(1, LESSONS_PER_WEEK + 1)
        ),
        batch_size=2000,
    )  # fmt: skip
    questions = [
        {"question": f"Question {q}?", "options": ["Right", "Wrong", "Also wrong", "Not this"], "answer": 0,
         "explanation": "Because the lesson said so."}
        for q in range(1, 5)
    ]  # fmt: skip
    Quiz.objects.bulk_create(
        Quiz(course_id=w.course_id, week=w, questions=questions, status=PartStatus.WRITTEN, written_at=now)
        for w in weeks
    )
    return courses


def _seed_subscriptions(courses: list[Any], now: datetime.datetime) -> dict[int, int]:
    """N active subscriptions due at `now`: every one's local weekday and time IS now in its own timezone,
    as for subscribers due in the same minute. Returns subscription id → the week it must receive."""
    import zoneinfo

    from django.db import connection

    rng = random.Random(5)
    stamp = now.isoformat()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            "COPY accounts_user (password, is_superuser, first_name, last_name, is_staff, is_active, "
            "date_joined, email) FROM STDIN"
        ) as copy:
            for n in range(N):
                copy.write_row(("!", False, "", "", False, True, stamp, f"reader{n}@bench.example"))
        cursor.execute("SELECT id, email FROM accounts_user")
        users = sorted(cursor.fetchall(), key=lambda row: int(row[1].removeprefix("reader").split("@")[0]))
        with cursor.cursor.copy(
            "COPY delivery_subscription (email, user_id, course_id, weekday, send_time, timezone, send_first_now, "
            "status, stop_reason, next_week, next_send_at, catch_up_weeks, created_at, requested_at, confirmed_at, "
            "link_generation) "
            "FROM STDIN"
        ) as copy:
            for n, (user_id, email) in enumerate(users):
                zone = rng.choice(TIMEZONES)
                local = now.astimezone(zoneinfo.ZoneInfo(zone))
                course = courses[n % len(courses)]
                week = (n // len(courses)) % WEEKS + 1
                copy.write_row((email, user_id, str(course.id), local.weekday(), local.strftime("%H:%M"), zone, False,
                                "active", "", week, stamp, 0, stamp, stamp, stamp, 0))  # fmt: skip
        cursor.execute("ANALYZE")
        cursor.execute("SELECT id, next_week FROM delivery_subscription")
        return dict(cursor.fetchall())


# ---------------------------------------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------------------------------------
def _clean_run(
    fake_url: str, workers: list[subprocess.Popen[bytes]], expected: dict[int, int]
) -> dict[str, Any]:
    from delivery.tasks import dispatch_due_lessons

    workers[:] = [_start(f"bench{n}") for n in range(WORKERS)]
    started = time.perf_counter()
    dispatch_due_lessons.delay()
    first = _wait(lambda: _stats(fake_url)["messages"] > 0, 120)
    _wait(lambda: _stats(fake_url)["messages"] >= len(expected), 600)
    wall = time.perf_counter() - started
    _wait(lambda: _sent_rows() >= len(expected), 60)
    peaks = [peak_rss_mb(worker.pid) for worker in workers]
    cpu = sum(cpu_seconds(worker.pid) for worker in workers)
    for worker in workers:
        _stop(worker)
    workers.clear()
    counted = _count_at_fake(fake_url, expected)
    return {"wall": wall, "first": first - started, "peaks": peaks, "cpu": cpu, **_stats(fake_url), **counted}


def _crash_run(
    fake_url: str, workers: list[subprocess.Popen[bytes]], expected: dict[int, int]
) -> dict[str, Any]:
    from django.test import Client

    from delivery.tasks import dispatch_due_lessons, reconcile_stuck_deliveries

    workers[:] = [_start(f"crash{n}") for n in range(WORKERS)]
    started = time.perf_counter()
    dispatch_due_lessons.delay()
    _wait(lambda: _stats(fake_url)["messages"] >= 0.3 * len(expected), 600)
    os.kill(workers[0].pid, signal.SIGKILL)
    workers[0].wait()
    killed_at = time.perf_counter() - started
    time.sleep(2 * LATENCY)  # the killed worker's last requests land (or not) at the fake
    at_kill = _ledger()
    workers[0] = _start("crash-restarted")
    client, posted, ticks = Client(), 0, 0
    while _sent_rows() < len(expected):
        assert time.perf_counter() - started < 900, "the crash run did not recover in 15 minutes"
        time.sleep(2)
        posted = _post_events(client, fake_url, posted)  # SendGrid's events for what it accepted
        ticks += 1
        if ticks % 3 == 0:  # the beat's entries, every few seconds instead of every few minutes
            reconcile_stuck_deliveries.delay()
            dispatch_due_lessons.delay()
    recovered = time.perf_counter() - started
    time.sleep(2 * LATENCY + 1)  # let any request still in flight land at the fake before counting
    for worker in workers:
        _stop(worker)
    workers.clear()
    counted = _count_at_fake(fake_url, expected)
    return {
        "killed_at": killed_at, "at_kill": at_kill, "recovered": recovered, "events": posted, **_stats(fake_url),
        **counted,
    }  # fmt: skip


def _reset(fake_url: str, expected: dict[int, int]) -> None:
    """Every subscription due again at its original week; the ledger, events, fake and queues emptied."""
    from django.db import connection

    now = datetime.datetime.now(datetime.UTC)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE delivery_emailevent, delivery_delivery")
        cursor.execute(
            "UPDATE delivery_subscription s SET next_week = v.week, next_send_at = %s, status = 'active', "
            "catch_up_weeks = 0, last_dispatched_at = NULL, ended_at = NULL "
            "FROM unnest(%s::bigint[], %s::int[]) AS v(id, week) WHERE s.id = v.id",
            [now, list(expected), list(expected.values())],
        )
        cursor.execute("VACUUM ANALYZE delivery_subscription")
    redis_flush(REDIS_URL)
    urllib.request.urlopen(
        urllib.request.Request(f"{fake_url}/__fake/reset", method="POST"), timeout=10
    ).read()


def _post_events(client: Any, fake_url: str, since: int) -> int:
    """Post a signed "processed" event per message SendGrid accepted since last time, 1,000 per post."""
    data = _get(f"{fake_url}/__bench/delivery-ids?since={since}")
    ids = data["ids"]
    for start in range(0, len(ids), 1000):
        events = [
            event("processed", email=f"id{i}@bench.example", delivery_id=i) for i in ids[start : start + 1000]
        ]
        body = webhook_body(events)
        response = client.post(
            "/webhooks/sendgrid", body, content_type="application/json", headers=SIGNER.headers(body)
        )
        assert response.status_code == 200, response.content
    return since + len(ids)


def _count_at_fake(fake_url: str, expected: dict[int, int]) -> dict[str, int]:
    """Duplicates and misses of (subscription, week), from the ledger ids SendGrid accepted."""
    from delivery.models import Delivery

    ids = [int(i) for i in _get(f"{fake_url}/__bench/delivery-ids?since=0")["ids"]]
    pairs = {
        row_id: (subscription_id, week)
        for row_id, subscription_id, week in Delivery.objects.values_list(
            "id", "subscription_id", "week_number"
        )
    }
    received = Counter(pairs.get(i) for i in ids)
    wanted = set(expected.items())
    return {
        "duplicates": sum(count - 1 for count in received.values() if count > 1),
        "misses": len(wanted - set(received)),
        "strays": sum(count for pair, count in received.items() if pair not in wanted),
    }


# ---------------------------------------------------------------------------------------------------------
# Processes and probes
# ---------------------------------------------------------------------------------------------------------
def _start(name: str) -> subprocess.Popen[bytes]:
    log = Path(tempfile.gettempdir()) / f"bench_delivery_{name}.log"
    log.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "celery", "-A", "school", "worker", "-Q", "default,mail", "--pool", "threads",
        "--concurrency", str(THREADS), "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--loglevel", "INFO", "--logfile", str(log),
    ]  # fmt: skip
    worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(lambda: log.exists() and " ready." in log.read_text(errors="replace"), 60)
    return worker


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _ledger() -> dict[str, int]:
    from django.db.models import Count

    from delivery.models import Delivery, Subscription

    counts = dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by())
    counts["not planned yet"] = Subscription.objects.filter(
        status="active", last_dispatched_at__isnull=True
    ).count()
    return counts


def _sent_rows() -> int:
    from delivery.models import Delivery

    return Delivery.objects.filter(status=Delivery.Status.SENT).count()


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def _stats(fake_url: str) -> dict[str, int]:
    return _get(f"{fake_url}/__fake/stats")  # type: ignore[return-value]


def _wait(condition: Any, seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"gave up waiting after {seconds} s")
        time.sleep(0.05)
    return time.perf_counter()


def _report(clean: dict[str, Any], crash: dict[str, Any], course_weeks: int) -> None:
    budget = course_weeks + N // 1000
    print(f"""
clean run: {N:,} subscriptions due in one minute, {course_weeks:,} course-weeks, {WORKERS} workers × {THREADS} threads, {LATENCY * 1000:.0f} ms per request
  wall time (dispatch queued → last email accepted)  {clean["wall"]:.1f} s   (target ≤ 60 s; first accepted after {clean["first"]:.1f} s)
  emails per second                                   {N / clean["wall"]:,.0f}
  HTTP requests to SendGrid                           {clean["requests"]:,} ({clean["accepted"]:,} accepted; target ≤ {budget:,})
  emails accepted by SendGrid                         {clean["messages"]:,}
  peak memory per worker (VmHWM)                      {", ".join(f"{p:.0f} MB" for p in clean["peaks"])} (target ≤ 300 MB)
  CPU time: workers / fake SendGrid                   {clean["cpu"]:.1f} s / {clean["fake_cpu"]:.1f} s (load average before: {clean["load"]})
  duplicates / misses                                 {clean["duplicates"]} / {clean["misses"]}
crash run: one worker SIGKILLed at {crash["killed_at"]:.1f} s (30% accepted), restarted; events posted to the webhook
  ledger at the kill                                  {", ".join(f"{k}: {v:,}" for k, v in sorted(crash["at_kill"].items()))}
  every week sent after                               {crash["recovered"]:.1f} s
  HTTP requests / emails accepted                     {crash["requests"]:,} / {crash["messages"]:,}
  events posted to /webhooks/sendgrid                 {crash["events"]:,}
  duplicates / misses                                 {crash["duplicates"]} / {crash["misses"]}   (target 0 / 0)""")


if __name__ == "__main__":
    main()
