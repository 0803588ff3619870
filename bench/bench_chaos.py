"""Chaos, measured: workers SIGKILLed at random moments while courses are written and weekly emails are sent,
with 20% of LLM calls and 20% of SendGrid requests faulted; then what came out of it, against a fault-free run.

    .venv/bin/python bench/bench_chaos.py [--courses 6] [--weeks 4] [--subscriptions 30] [--kills 8]

Runs on this machine's PostgreSQL (a database of its own, created and dropped here) and Redis (REDIS_URL's db,
flushed), with the fake OpenAI and the fake SendGrid served from this process, and real `celery worker`
processes (threads pool, every queue) started here; a killed worker is started again a moment later, as a
supervisor would. This script plays the beat: every `--tick` seconds it queues the course sweeper, the weekly
dispatcher and the delivery reconciler, and posts SendGrid's "processed" events for what the fake accepted to
the signed webhook. The sweeper's and reconciler's waits and the broker's visibility timeout are made short
through their settings (GENERATION_STALE_AFTER_SECONDS, GENERATION_PART_LEASE_SECONDS,
DELIVERY_STUCK_AFTER_SECONDS, CELERY_VISIBILITY_TIMEOUT), so a run takes minutes, not hours.

The workload, twice (first fault-free, then with kills and faults): `--courses` fresh courses of `--weeks`
weeks requested one every `--stagger` seconds, and `--subscriptions` learners of already-written courses who
receive their weeks 1..`--weeks`, one simulated week every `--week-every` seconds (the dispatcher's `now` moves
a week on each time). Counted:
- courses ended (ready, incomplete or failed) vs stuck (still queued/outlining/writing `--grace` seconds
  after the last kill, the sweeper having run all along);
- duplicate and missing emails per (subscription, week), from the ledger ids (custom_args.delivery_id) of the
  messages the fake SendGrid accepted;
- LLM calls and spend as the provider sees them (every chat call that reached the fake, with the usage it
  answered with, priced as gpt-4o-mini), against the fault-free run.
Targets: 0 stuck, 0 duplicates, 0 missing, spend ≤ 1.3 × the fault-free run. Exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import database_create, database_drop, django_environ, mail_environ, redis_flush  # noqa: E402
from tests.fakes._http import Reply  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.sendgrid_server import FakeSendGrid, WebhookSigner, event, webhook_body  # noqa: E402

DATABASE = os.environ.get("BENCH_DATABASE", "sem_bench_chaos")  # one per engineer sharing a machine
PRICED_AS = "gpt-4o-mini"
SIGNER = WebhookSigner()
ENDED = {"ready", "incomplete", "failed"}


class ChargingFakeOpenAI(FakeOpenAI):
    """The fake OpenAI, noting on each chat call's record the usage it answered with (streamed or not): what a
    provider bills, whether or not the worker that asked lived to record it."""

    _answer = threading.local()  # each request is answered on a thread of its own

    def _completion(self, *args: Any) -> dict[str, Any]:
        completion: dict[str, Any] = super()._completion(*args)  # type: ignore[misc]
        self._answer.usage = completion["usage"]
        return completion

    def _chat(self, raw: bytes, record: dict[str, Any]) -> Reply:
        self._answer.usage = None
        reply: Reply = super()._chat(raw, record)  # type: ignore[misc]
        record["usage"] = self._answer.usage
        return reply


@dataclass
class Outcome:
    label: str
    wall: float = 0.0
    courses: Counter[str] = field(default_factory=Counter)  # status → courses
    stuck: list[str] = field(default_factory=list)
    wrongly_incomplete: int = 0  # incomplete with every part written
    expected_emails: int = 0
    accepted: int = 0
    duplicates: int = 0
    missing: int = 0
    llm_calls: int = 0  # chat calls that reached the provider
    llm_faults: int = 0
    unbilled_calls: int = 0  # chat calls whose answer carried no usage (faults that fail before any tokens)
    moderation_calls: int = 0
    spend: float = 0.0  # as billed by the provider
    ledger_spend: float = 0.0  # as recorded in LLMCall rows
    sendgrid_requests: int = 0
    sendgrid_faults: int = 0
    kills: list[float] = field(default_factory=list)  # seconds into the run
    failed_parts: Counter[str] = field(default_factory=Counter)  # why → lessons and quizzes


def main() -> None:
    args = parse_args()
    # A killed worker's open connections to the fakes reset; their servers need not print each one.
    socketserver.BaseServer.handle_error = lambda self, request, client_address: None  # type: ignore[method-assign]
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13"
    llm = ChargingFakeOpenAI(latency=args.latency, moderation_latency=args.latency / 5, keep_bodies=False)
    mail = FakeSendGrid(latency=0.05, keep_bodies=False, seed=args.seed)
    llm.retry_after = "1"
    llm.start()
    mail.start()
    env = chaos_env(redis_url, llm.base_url, mail.host_url, args)
    os.environ.update(env)
    database_create(DATABASE)
    workers = Workers(env, args)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        redis_flush(redis_url)
        subscriptions = seed(args)
        clean = run("fault-free", args, workers, llm, mail, subscriptions, kills=[])
        reset(redis_url, llm, mail)
        llm.fault_rate, mail.fault_rate = args.llm_faults, args.sendgrid_faults
        rng = random.Random(args.seed)
        # The kills fall at random moments while the fault-free run's work was still going on.
        kills = sorted(rng.uniform(1.0, max(clean.wall, 2.0)) for _ in range(args.kills))
        chaos = run("chaos", args, workers, llm, mail, subscriptions, kills=kills, rng=rng)
    finally:
        workers.stop_all()
        llm.stop()
        mail.stop()
        from django.db import connections

        connections.close_all()
        redis_flush(redis_url)
        database_drop(DATABASE)
    sys.exit(0 if report(clean, chaos, args) else 1)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--courses", type=int, default=6, help="fresh courses written in each run")
    parser.add_argument("--weeks", type=int, default=4, help="weeks of each course, and weeks emailed")
    parser.add_argument("--subscriptions", type=int, default=30, help="learners receiving weekly emails")
    parser.add_argument("--kills", type=int, default=8, help="workers SIGKILLed in the chaos run")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--concurrency", type=int, default=16, help="threads per worker process")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per fake LLM call")
    parser.add_argument("--llm-faults", type=float, default=0.2, help="share of LLM calls faulted")
    parser.add_argument(
        "--sendgrid-faults", type=float, default=0.2, help="share of SendGrid requests faulted"
    )
    parser.add_argument("--stagger", type=float, default=2.0, help="seconds between course requests")
    parser.add_argument("--week-every", type=float, default=3.0, help="seconds between simulated weeks")
    parser.add_argument("--tick", type=float, default=2.0, help="seconds between the beat's entries")
    parser.add_argument("--grace", type=float, default=150.0, help="seconds after the last kill to settle")
    parser.add_argument("--seed", type=int, default=17)
    return parser.parse_args()


def chaos_env(redis_url: str, llm_url: str, mail_url: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        **django_environ(
            DATABASE,
            redis_url,
            **mail_environ(mail_url, SIGNER.public_key_b64),
            OPENAI_API_KEY="bench",
            OPENAI_BASE_URL=llm_url,
            OPENAI_MODEL=PRICED_AS,
            LLM_TIMEOUT_SECONDS="10",
            LLM_BACKOFF_MAX_SECONDS="4",
            LLM_MAX_CONCURRENCY="64",
            QUALITY_LOOKUPS="false",
            # What a dead worker leaves is picked up after seconds instead of 10-15 minutes.
            GENERATION_STALE_AFTER_SECONDS="15",
            GENERATION_PART_LEASE_SECONDS="30",
            DELIVERY_STUCK_AFTER_SECONDS="10",
            CELERY_VISIBILITY_TIMEOUT="60",
        ),
    }


# ---------------------------------------------------------------------------------------------------------
# Workers: real processes, killed and started again
# ---------------------------------------------------------------------------------------------------------
class Workers:
    def __init__(self, env: dict[str, str], args: argparse.Namespace) -> None:
        self.env, self.args = env, args
        self.processes: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start_all(self) -> None:
        self.processes = [self._start() for _ in range(self.args.workers)]
        for process in self.processes:
            self._wait_ready(process)

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL one worker at random, then start another in its place (a supervisor's restart)."""
        slot = rng.randrange(len(self.processes))
        victim = self.processes[slot]
        if victim.poll() is None:
            os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        self.processes[slot] = self._start()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []

    def _start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = Path(tempfile.gettempdir()) / f"bench_chaos_{DATABASE}_{self.started}.log"
        log.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "celery", "-A", "school", "worker", "-Q", "llm,default,cpu,mail",
            "--pool", "threads", "--concurrency", str(self.args.concurrency), "-n", f"chaos{self.started}@%h",
            "--without-gossip", "--without-mingle", "--loglevel", "INFO", "--logfile", str(log),
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        process.log = log  # type: ignore[attr-defined]
        return process

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        log: Path = process.log  # type: ignore[attr-defined]
        deadline = time.monotonic() + 90
        while not (log.exists() and " ready." in log.read_text(errors="replace")):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"worker did not start; see {log}")
            time.sleep(0.1)


# ---------------------------------------------------------------------------------------------------------
# Seeding and resetting
# ---------------------------------------------------------------------------------------------------------
def seed(args: argparse.Namespace) -> list[int]:
    """Written courses and their learners' subscriptions, all due at the first simulated week."""
    from accounts.models import User
    from courses.models import Course
    from delivery.models import Subscription
    from tests.factories import written_course

    courses = [
        written_course(weeks=args.weeks, topic=f"Seeded topic {n}", review_state=Course.Review.APPROVED)
        for n in range(
            max(1, args.subscriptions // 3)
        )  # one SendGrid request per course-week: more requests to fault
    ]
    start = week_zero()
    ids = []
    for n in range(args.subscriptions):
        user = User.objects.create(email=f"learner{n}@chaos.example")
        subscription = Subscription.objects.create(
            email=user.email, user=user, course=courses[n % len(courses)], status=Subscription.Status.ACTIVE,
            weekday=start.weekday(), send_time=start.time(), timezone="UTC", next_week=1, next_send_at=start,
            confirmed_at=start,
        )  # fmt: skip
        ids.append(subscription.id)
    return ids


def week_zero() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0) - datetime.timedelta(
        minutes=1
    )


def reset(redis_url: str, llm: FakeOpenAI, mail: FakeSendGrid) -> None:
    """The learners back at week 1, the ledger emptied, the queues and fakes cleared (courses stay)."""
    from delivery.models import Delivery, EmailEvent, Subscription

    EmailEvent.objects.all().delete()
    Delivery.objects.all().delete()
    start = week_zero()
    Subscription.objects.update(
        status=Subscription.Status.ACTIVE, next_week=1, next_send_at=start, weekday=start.weekday(),
        send_time=start.time(), catch_up_weeks=0, last_dispatched_at=None, ended_at=None,
    )  # fmt: skip
    redis_flush(redis_url)
    llm.reset()
    mail.reset()


# ---------------------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------------------
def run(
    label: str,
    args: argparse.Namespace,
    workers: Workers,
    llm: FakeOpenAI,
    mail: FakeSendGrid,
    subscriptions: list[int],
    *,
    kills: list[float],
    rng: random.Random | None = None,
) -> Outcome:
    from django.test import Client

    from courses.generation.request import course_request
    from courses.models import Course, LLMCall
    from courses.tasks import sweep_stale_courses
    from delivery.models import Delivery
    from delivery.tasks import dispatch_due_lessons, reconcile_stuck_deliveries

    workers.start_all()
    outcome = Outcome(label, expected_emails=len(subscriptions) * args.weeks)
    first_call = LLMCall.objects.order_by("-id").values_list("id", flat=True).first() or 0
    start = week_zero()
    client, posted, weeks_dispatched = Client(), 0, 0
    course_ids: list[Any] = []
    pending_kills = list(kills)
    began = time.monotonic()
    next_tick = began
    print(f"{label}: {args.courses} courses × {args.weeks} weeks, {len(subscriptions)} learners, "
          f"{len(kills)} kills", flush=True)  # fmt: skip
    while True:
        elapsed = time.monotonic() - began
        while len(course_ids) < args.courses and elapsed >= len(course_ids) * args.stagger:
            topic = f"Chaos topic {len(course_ids)}"
            result = course_request(
                topic=topic, language="en", weeks=args.weeks, user=None, ip=None, fresh=True
            )
            course_ids.append(result.course.id)
        due_week = min(args.weeks, 1 + int(elapsed // args.week_every))
        if due_week > weeks_dispatched:
            weeks_dispatched = due_week
            now = start + datetime.timedelta(weeks=due_week - 1)
            dispatch_due_lessons.delay(now.isoformat())
        if pending_kills and elapsed >= pending_kills[0]:
            pending_kills.pop(0)
            assert rng is not None
            workers.kill_one(rng)
            outcome.kills.append(elapsed)
            print(
                f"  {elapsed:6.1f}s SIGKILL, worker restarted ({len(outcome.kills)}/{len(kills)})", flush=True
            )
        if time.monotonic() >= next_tick:  # the beat's entries, every few seconds instead of minutes
            next_tick += args.tick
            posted = post_events(client, mail, posted)
            sweep_stale_courses.delay()
            reconcile_stuck_deliveries.delay()
            dispatch_due_lessons.delay((start + datetime.timedelta(weeks=weeks_dispatched - 1)).isoformat())
        statuses = Counter(Course.objects.filter(id__in=course_ids).values_list("status", flat=True))
        sent = Delivery.objects.filter(status=Delivery.Status.SENT).count()
        finished = (
            len(course_ids) == args.courses
            and sum(statuses[s] for s in ENDED) == args.courses
            and weeks_dispatched == args.weeks
            and sent >= outcome.expected_emails
            and not pending_kills
        )
        last_kill = outcome.kills[-1] if outcome.kills else 0.0
        if finished or (not pending_kills and elapsed > last_kill + args.grace + (0 if kills else 600)):
            break
        time.sleep(0.2)
    outcome.wall = time.monotonic() - began
    time.sleep(1.0)  # requests still in flight land at the fakes, LLMCall rows of finished calls are saved
    post_events(client, mail, posted)
    workers.stop_all()
    count_courses(outcome, course_ids)
    count_emails(outcome, mail, subscriptions, args.weeks)
    count_llm(outcome, llm, first_call)
    print(f"  ended after {outcome.wall:.1f}s", flush=True)
    return outcome


def post_events(client: Any, mail: FakeSendGrid, since: int) -> int:
    """SendGrid's "processed" event for each message it accepted since last time, to the signed webhook."""
    messages = mail.messages[since:]
    if messages:
        body = webhook_body(
            [
                event("processed", email=m.to, delivery_id=m.custom_args.get("delivery_id", ""))
                for m in messages
            ]
        )
        response = client.post(
            "/webhooks/sendgrid",
            body,
            content_type="application/json",
            headers=SIGNER.headers(body),
            secure=True,
        )
        assert response.status_code == 200, (response.status_code, response.content)
    return since + len(messages)


# ---------------------------------------------------------------------------------------------------------
# Counting
# ---------------------------------------------------------------------------------------------------------
def count_courses(outcome: Outcome, course_ids: list[Any]) -> None:
    from courses.models import Course, Lesson, PartStatus, Quiz

    for course_id, status in Course.objects.filter(id__in=course_ids).values_list("id", "status"):
        outcome.courses[status] += 1
        if status not in ENDED:
            outcome.stuck.append(f"{course_id} ({status})")
        unwritten = sum(
            model.objects.filter(course_id=course_id).exclude(status=PartStatus.WRITTEN).count()
            for model in (Lesson, Quiz)
        )
        if status == "incomplete" and not unwritten:  # ended, but wrongly: nothing is missing
            outcome.wrongly_incomplete += 1
    for model in (Lesson, Quiz):
        failed = model.objects.filter(course_id__in=course_ids, status=PartStatus.FAILED)
        outcome.failed_parts.update(failed.values_list("failure_reason", flat=True))


def count_emails(outcome: Outcome, mail: FakeSendGrid, subscriptions: list[int], weeks: int) -> None:
    """Each (subscription, week) once at the fake SendGrid, told apart by the ledger id each message carries."""
    from delivery.models import Delivery

    pairs = {
        str(row_id): (subscription_id, week)
        for row_id, subscription_id, week in Delivery.objects.values_list(
            "id", "subscription_id", "week_number"
        )
    }
    messages = [m for m in mail.messages if m.custom_args.get("delivery_id")]
    received = Counter(pairs.get(m.custom_args["delivery_id"]) for m in messages)
    wanted = {(subscription, week) for subscription in subscriptions for week in range(1, weeks + 1)}
    outcome.accepted = len(messages)
    outcome.duplicates = sum(count - 1 for count in received.values() if count > 1)
    outcome.missing = len(wanted - set(received))
    requests = [r for r in mail.requests if r.path.startswith("/v3/mail/send")]
    outcome.sendgrid_requests = len(requests)
    outcome.sendgrid_faults = sum(1 for r in requests if r.fault is not None)


def count_llm(outcome: Outcome, llm: FakeOpenAI, first_call: int) -> None:
    from django.db.models import Sum

    from courses.models import LLMCall
    from courses.moderation.costs import call_cost_usd

    for record in llm.calls():
        outcome.llm_calls += 1
        outcome.llm_faults += record["fault"] is not None
        usage = record.get("usage")
        if usage is None:
            outcome.unbilled_calls += 1
            continue
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        outcome.spend += call_cost_usd(
            model=PRICED_AS, prompt_tokens=usage["prompt_tokens"], cached_tokens=cached,
            completion_tokens=usage["completion_tokens"],
        )  # fmt: skip
    outcome.moderation_calls = len(llm.calls("/v1/moderations"))
    rows = LLMCall.objects.filter(id__gt=first_call).exclude(stage="moderation")
    totals = rows.aggregate(p=Sum("prompt_tokens"), k=Sum("cached_tokens"), c=Sum("completion_tokens"))
    outcome.ledger_spend = call_cost_usd(
        model=PRICED_AS, prompt_tokens=totals["p"] or 0, cached_tokens=totals["k"] or 0,
        completion_tokens=totals["c"] or 0,
    )  # fmt: skip


def report(clean: Outcome, chaos: Outcome, args: argparse.Namespace) -> bool:
    ratio = chaos.spend / clean.spend if clean.spend else float("inf")
    targets = [
        ("stuck courses", len(chaos.stuck), 0, len(chaos.stuck) == 0),
        (
            "courses incomplete with every part written",
            bad := clean.wrongly_incomplete + chaos.wrongly_incomplete,
            0,
            bad == 0,
        ),
        ("duplicate emails", chaos.duplicates, 0, chaos.duplicates == 0),
        ("missing emails", chaos.missing, 0, chaos.missing == 0),
        ("spend / fault-free spend", round(ratio, 2), 1.3, ratio <= 1.3),
    ]
    print(
        f"\nChaos: {args.courses} courses × {args.weeks} weeks written, {args.subscriptions} learners × {args.weeks} "
        f"weeks emailed; {args.workers} workers × {args.concurrency} threads; LLM latency {args.latency}s; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':<34}{'fault-free':>14}{'chaos':>18}")
    rows = [
        ("wall time, s", f"{clean.wall:.1f}", f"{chaos.wall:.1f}"),
        ("workers SIGKILLed", "0", f"{len(chaos.kills)}"),
        ("LLM faults injected", f"{clean.llm_faults}", f"{chaos.llm_faults} ({args.llm_faults:.0%})"),
        ("SendGrid faults injected", f"{clean.sendgrid_faults}", f"{chaos.sendgrid_faults} ({args.sendgrid_faults:.0%})"),
        ("courses ready", f"{clean.courses['ready']}", f"{chaos.courses['ready']}"),
        ("courses incomplete", f"{clean.courses['incomplete']}", f"{chaos.courses['incomplete']}"),
        ("  of which every part written", f"{clean.wrongly_incomplete}", f"{chaos.wrongly_incomplete}"),
        ("courses failed", f"{clean.courses['failed']}", f"{chaos.courses['failed']}"),
        ("courses stuck", f"{len(clean.stuck)}", f"{len(chaos.stuck)}"),
        ("emails expected", f"{clean.expected_emails}", f"{chaos.expected_emails}"),
        ("emails accepted by SendGrid", f"{clean.accepted}", f"{chaos.accepted}"),
        ("duplicate (subscription, week)", f"{clean.duplicates}", f"{chaos.duplicates}"),
        ("missing (subscription, week)", f"{clean.missing}", f"{chaos.missing}"),
        ("SendGrid requests", f"{clean.sendgrid_requests}", f"{chaos.sendgrid_requests}"),
        ("LLM chat calls at the provider", f"{clean.llm_calls}", f"{chaos.llm_calls} (+{chaos.llm_calls - clean.llm_calls})"),
        ("  of which billed no tokens", f"{clean.unbilled_calls}", f"{chaos.unbilled_calls}"),
        ("moderation calls", f"{clean.moderation_calls}", f"{chaos.moderation_calls}"),
        ("spend billed, USD", f"{clean.spend:.4f}", f"{chaos.spend:.4f} (× {ratio:.2f})"),
        ("spend in the LLMCall ledger, USD", f"{clean.ledger_spend:.4f}", f"{chaos.ledger_spend:.4f}"),
    ]  # fmt: skip
    for name, a, b in rows:
        print(f"{name:<34}{a:>14}{b:>18}")
    for outcome in (clean, chaos):
        for reason, parts in outcome.failed_parts.most_common():
            print(f"{outcome.label}: {parts} part(s) failed: {reason[:150]}")
        if outcome.stuck:
            print(f"{outcome.label}: stuck: {', '.join(outcome.stuck)}")
    print()
    for name, value, target, ok in targets:
        print(
            f"{'PASS' if ok else 'FAIL'}  {name}: {value} (target {'≤ ' if name.startswith('spend') else ''}{target})"
        )
    return all(ok for *_, ok in targets)


if __name__ == "__main__":
    main()
