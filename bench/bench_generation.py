"""How fast a whole course is written, measured against its critical path; prints a table, asserts nothing.

Starts the fake OpenAI server at a fixed latency L, a PostgreSQL database of its own (created, then dropped),
the Redis broker (REDIS_URL's db, flushed) and real `celery worker` processes, then requests fresh 13-week
courses and measures the wall time from request to ready. The pipeline has two dependent writing rounds (the
outline, then every lesson and quiz at once), each followed by a screening round at the moderation endpoint,
which also screens the topic first: the critical path is 2 × L + 3 × M, M being the moderation latency. Targets: wall time ≤ 1.15 × the
critical path, and ≥ 15 × faster than making the same calls one after another. Then: the calls and tokens per
course, the CPU seconds each kind of process spent on it (on a small machine that, more than the rounds, sets
how near the critical path a course can finish at a small L), a reused course (0 calls), and courses written
while 20% of LLM calls fail.

    .venv/bin/python bench/bench_generation.py [--latency 0.5] [--moderation-latency 0.1] [--runs 3]

With --pace the fake writes at a model's pace instead (0.5 s to the first token, then 80 tokens/s: a mini
model's), streaming the outline, and one course is measured from request to each moment a learner cares about:
its first week visible, the whole outline visible, week 1 readable, the course ready; each against its physical
limit, the longest chain of dependent calls each as long as the tokens it really wrote at that rate.

    .venv/bin/python bench/bench_generation.py --pace [--ttft 0.5] [--tps 80]

Quizzes are written after their week's lessons (from their text), a third writing round: the critical path is
then 3 × L + 4 × M. `--workers-from DIR` runs the workers from another checkout (e.g. the commit before that
round, unpacked with `git archive`), so the same harness measures a course without it, side by side.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import (  # noqa: E402
    cpu_seconds,
    cpu_seconds_named,
    database_create,
    database_drop,
    django_environ,
    redis_flush,
)

DB_NAME = os.environ.get("BENCH_DATABASE", "sem_bench_generation")  # one per engineer sharing a machine


@dataclass
class Run:
    wall: float
    calls: int  # chat completions (writing), retries included
    moderation_calls: int
    parts: int
    sequential: float  # the sum of every call's own latency: the time one-after-another would take
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    failed_calls: int
    ready: bool
    phases: dict[str, float]
    cpu: dict[str, float]  # CPU seconds each kind of process used from request to ready


def main() -> None:
    args = parse_args()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    from tests.fakes.openai_server import FakeOpenAI

    pace = {"time_to_first_token": args.ttft, "tokens_per_second": args.tps} if args.pace else {}
    fake = FakeOpenAI(
        latency=args.latency, moderation_latency=args.moderation_latency, keep_bodies=False, **pace
    ).start()
    env = bench_env(redis_url, fake.base_url, args)
    os.environ.update(env)
    database_create(DB_NAME)
    redis_flush(redis_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    workers = [worker_start(env, args.concurrency, n, args.workers_from or ROOT) for n in range(args.workers)]
    try:
        import django

        django.setup()
        if args.pace:
            pace_report(args)
        else:
            report(fake, [worker.pid for worker in workers], args)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        fake.stop()
        from django.db import connections

        connections.close_all()
        redis_flush(redis_url)
        database_drop(DB_NAME)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the fake LLM takes per call (L)")
    parser.add_argument(
        "--moderation-latency", type=float, default=0.1, help="seconds the fake takes per moderation call (M)"
    )
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--runs", type=int, default=3, help="fault-free courses to measure")
    parser.add_argument("--fault-runs", type=int, default=3, help="courses to write with faults injected")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes (as in compose.yaml)")
    parser.add_argument("--concurrency", type=int, default=32, help="threads per worker process")
    parser.add_argument("--max-concurrency", type=int, default=64, help="LLM_MAX_CONCURRENCY (global cap)")
    parser.add_argument(
        "--pace", action="store_true", help="the fake at a model's pace; one course, milestones"
    )
    parser.add_argument("--ttft", type=float, default=0.5, help="with --pace: seconds to the first token")
    parser.add_argument("--tps", type=float, default=80.0, help="with --pace: completion tokens per second")
    parser.add_argument(
        "--workers-from",
        type=Path,
        default=None,
        help="run the workers from this checkout (one without the quiz-after-lessons round: 2 writing rounds)",
    )
    return parser.parse_args()


def bench_env(redis_url: str, base_url: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        **django_environ(
            DB_NAME,
            redis_url,
            OPENAI_API_KEY="bench",
            OPENAI_BASE_URL=base_url,
            OPENAI_MODEL="fake-model",
            LLM_MAX_CONCURRENCY=str(args.max_concurrency),
            LLM_TIMEOUT_SECONDS="30",
            # Readings, links and pictures are looked up after ready, never on its path; the fakes are not
            # started here, and nothing may reach the real services.
            QUALITY_LOOKUPS="false",
        ),
    }


def worker_start(env: dict[str, str], concurrency: int, number: int, code: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "school", "worker", "-Q", "llm,default,cpu"]
    command += ["--pool", "threads", "--concurrency", str(concurrency), "--loglevel", "WARNING"]
    command += ["--hostname", f"bench{number}@%h", "--without-mingle", "--without-gossip"]
    return subprocess.Popen(command, cwd=code, env=env, stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------------


def write_course(topic: str, weeks: int, timeout: float = 600) -> tuple[Any, float]:
    """Request a course and wait for it; the wall time ends at the course's own `ready_at`.

    The wait polls one indexed row with a plain cursor every 50 ms: an ORM query every few milliseconds took
    a fifth of a core from the two this machine shares with the workers it measures."""
    from django.db import connection

    from courses.generation.request import course_request
    from courses.models import Course

    started = time.time()
    course = course_request(topic=topic, language="en", weeks=weeks, user=None, ip=None, fresh=True).course
    done = {Course.Status.READY, Course.Status.FAILED}
    table = connection.ops.quote_name(Course._meta.db_table)
    with connection.cursor() as cursor:
        while time.time() - started < timeout:
            cursor.execute(f"SELECT status, ready_at FROM {table} WHERE id = %s", [course.id])
            status, ready_at = cursor.fetchone()
            if status in done:
                break
            time.sleep(0.05)
    return course, ready_at.timestamp() - started if status == Course.Status.READY else float("nan")


def cpu_by_process(worker_pids: list[int]) -> dict[str, float]:
    """CPU seconds so far of everything a course keeps busy on this machine (Linux's /proc)."""
    return {
        "workers": sum(cpu_seconds(pid) for pid in worker_pids),
        "PostgreSQL": cpu_seconds_named("postgres"),
        "Redis": cpu_seconds_named("redis-server"),
        "fake LLM + this script": cpu_seconds(os.getpid()),
    }


def measure(topic: str, weeks: int, worker_pids: list[int]) -> Run:
    from django.db.models import Sum

    from courses.models import Course, LLMCall

    cpu_before = cpu_by_process(worker_pids)
    course, wall = write_course(topic, weeks)
    cpu_after = cpu_by_process(worker_pids)
    time.sleep(0.2)  # let the last LLMCall rows land
    all_calls = LLMCall.objects.filter(course=course)
    calls = all_calls.exclude(stage="moderation")
    totals = all_calls.aggregate(
        p=Sum("prompt_tokens"), c=Sum("completion_tokens"), k=Sum("cached_tokens"), ms=Sum("latency_ms")
    )
    return Run(
        wall=wall,
        calls=calls.count(),
        moderation_calls=all_calls.filter(stage="moderation").count(),
        parts=course.lessons.count() + course.quizzes.count(),
        sequential=(totals["ms"] or 0) / 1000,
        prompt_tokens=totals["p"] or 0,
        completion_tokens=totals["c"] or 0,
        cached_tokens=totals["k"] or 0,
        failed_calls=calls.exclude(outcome=LLMCall.Outcome.OK).count(),
        ready=Course.objects.get(id=course.id).status == Course.Status.READY,
        phases=phases(Course.objects.get(id=course.id)),
        cpu={name: cpu_after[name] - cpu_before[name] for name in cpu_after},
    )


def phases(course: Any) -> dict[str, float]:
    """Where the wall time went, from the database's timestamps (LLMCall rows are saved as each call ends)."""
    from courses.models import LLMCall

    ok = LLMCall.objects.filter(course=course, outcome=LLMCall.Outcome.OK).exclude(stage="moderation")
    calls = list(ok.order_by("created_at"))
    outline = next(call for call in calls if call.stage == "outline")
    parts = [call for call in calls if call.stage != "outline"]
    if not parts or course.ready_at is None:
        return {}

    def start(call: Any) -> float:
        return call.created_at.timestamp() - call.latency_ms / 1000

    first_start, last_start = min(map(start, parts)), max(map(start, parts))
    return {
        "request→outline call": start(outline) - course.created_at.timestamp(),
        "outline call": outline.latency_ms / 1000,
        "outline→first part call": first_start - outline.created_at.timestamp(),
        "part calls start spread": last_start - first_start,
        "slowest part call": max(call.latency_ms for call in parts) / 1000,
        "last part→ready": course.ready_at.timestamp() - max(call.created_at.timestamp() for call in parts),
        # With quizzes written after their lessons: from the last lesson's reply to the last quiz's.
        "last lesson→last quiz": max(c.created_at.timestamp() for c in parts if c.stage == "quiz")
        - max(c.created_at.timestamp() for c in parts if c.stage == "lesson"),
    }


def reuse_check(fake: Any, weeks: int) -> tuple[bool, int, float]:
    from courses.generation.request import course_request
    from courses.models import Course

    course, _ = write_course("Reusable topic", weeks)
    Course.objects.filter(id=course.id).update(review_state=Course.Review.APPROVED)
    before = len(fake.requests)
    started = time.perf_counter()
    result = course_request(topic="reusable   TOPIC!", language="en", weeks=weeks, user=None, ip=None)
    elapsed = time.perf_counter() - started
    return result.reused and result.course.id == course.id, len(fake.requests) - before, elapsed


def report(fake: Any, worker_pids: list[int], args: argparse.Namespace) -> None:
    # Outline, lessons, then (from the lessons' text) quizzes; each round screened, and the topic first.
    rounds = 2 if args.workers_from else 3
    latency, critical = args.latency, rounds * args.latency + (rounds + 1) * args.moderation_latency
    warm = measure(
        "Warm-up topic", args.weeks, worker_pids
    )  # first connections, imports, caches of every thread
    runs = [measure(f"Topic number {n}", args.weeks, worker_pids) for n in range(args.runs)]
    reused, reuse_calls, reuse_seconds = reuse_check(fake, args.weeks)
    fake.fault_rate = args.fault_rate
    fault_runs = [measure(f"Faulty topic {n}", args.weeks, worker_pids) for n in range(args.fault_runs)]
    fake.fault_rate = 0.0

    print(
        f"\nCourse generation: {args.weeks} weeks, fake LLM latency L = {latency:.2f}s, moderation latency "
        f"M = {args.moderation_latency:.2f}s, critical path {rounds} × L + {rounds + 1} × M = {critical:.2f}s "
        f"(workers from {args.workers_from or 'this checkout'}); {args.workers} worker process(es) × {args.concurrency} threads, "
        f"LLM_MAX_CONCURRENCY = {args.max_concurrency}; max calls in flight seen: {fake.max_in_flight}; "
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(table_header())
    print(table_row("warm-up (not counted)", warm, critical))
    for n, run in enumerate(runs, start=1):
        print(table_row(f"run {n}", run, critical))
    for n, run in enumerate(fault_runs, start=1):
        print(table_row(f"{args.fault_rate:.0%} faults, run {n}", run, critical))
    print("\nwhere the time went (median of the fault-free runs, seconds):")
    for name in runs[0].phases:
        print(f"  {name:<26}{statistics.median(run.phases[name] for run in runs):>7.3f}")
    cpu_report(runs)
    summary(runs, fault_runs, critical, args)
    print(
        f"reused approved course: reused={reused}, LLM calls = {reuse_calls}, {reuse_seconds * 1000:.1f} ms"
    )


def cpu_report(runs: list[Run]) -> None:
    """Where the machine's CPU went: on a small machine this, not the number of rounds, bounds how close the
    wall time gets to the critical path at a small L."""
    print("\nCPU seconds per course, request to ready (median of the fault-free runs):")
    for name in runs[0].cpu:
        print(f"  {name:<26}{statistics.median(run.cpu[name] for run in runs):>7.3f}")
    total = statistics.median(sum(run.cpu.values()) for run in runs)
    cpus = os.cpu_count() or 1
    print(f"  {'total':<26}{total:>7.3f}  = {total / cpus:.2f}s of all {cpus} CPUs busy")


def table_header() -> str:
    columns = (
        "",
        "wall s",
        "× crit",
        "seq. s",
        "speed-up",
        "calls",
        "parts",
        "failed",
        "prompt tok",
        "cached tok",
        "compl. tok",
        "ready",
    )
    return "{:<22}{:>8}{:>8}{:>8}{:>9}{:>7}{:>7}{:>8}{:>12}{:>12}{:>12}{:>7}".format(*columns)


def table_row(label: str, run: Run, critical: float) -> str:
    return "{:<22}{:>8.2f}{:>8.2f}{:>8.1f}{:>8.1f}×{:>7}{:>7}{:>8}{:>12}{:>12}{:>12}{:>7}".format(
        label,
        run.wall,
        run.wall / critical,
        run.sequential,
        run.sequential / run.wall,
        run.calls,
        run.parts,
        run.failed_calls,
        run.prompt_tokens,
        run.cached_tokens,
        run.completion_tokens,
        "yes" if run.ready else "NO",
    )


def summary(runs: list[Run], fault_runs: list[Run], critical: float, args: argparse.Namespace) -> None:
    wall = statistics.median(run.wall for run in runs)
    speedup = statistics.median(run.sequential / run.wall for run in runs)
    print(
        f"\nmedian wall {wall:.2f}s = {wall / critical:.2f} × critical path (target ≤ 1.15); "
        f"speed-up over sequential calls {speedup:.1f}× (target ≥ 15×)"
    )
    per_course = statistics.mean(run.calls for run in runs)
    moderations = statistics.mean(run.moderation_calls for run in runs)
    tokens = statistics.mean(run.prompt_tokens + run.completion_tokens for run in runs)
    cached = statistics.mean(run.cached_tokens / max(run.prompt_tokens, 1) for run in runs)
    print(
        f"per course: {per_course:.0f} LLM writing calls and {moderations:.0f} moderation calls (plus one for the "
        f"topic), {tokens:,.0f} tokens ({cached:.0%} of prompt tokens cached)"
    )
    if fault_runs:
        extra = statistics.mean(run.calls - run.parts - 1 for run in fault_runs)
        completed = sum(run.ready for run in fault_runs)
        fault_wall = statistics.median(run.wall for run in fault_runs)
        print(
            f"with {args.fault_rate:.0%} faults: {completed}/{len(fault_runs)} courses ready, "
            f"{extra:.1f} extra calls per course, median wall {fault_wall:.2f}s = {fault_wall / critical:.2f} × "
            f"critical path (429 waits honour Retry-After: 1s; other retries back off from 1s)"
        )


# --------------------------------------------------------------------------------------------------------
# At a model's pace: the moments a learner waits for, against their physical limits
# --------------------------------------------------------------------------------------------------------
ONE_HUNDRED_ONE_SCHOOL_SECONDS = 300  # 101.school: "about five minutes" for a course


def milestones(topic: str, weeks: int, timeout: float = 900) -> tuple[Any, dict[str, float]]:
    """Request a course (straight through) and note when each moment a learner waits for came, polling one
    row every 100 ms: the first week of the outline whole on the page, the whole outline, week 1 readable
    (its lessons written: the writing page offers them while the rest is written; its quiz comes later), ready."""
    from django.db import connection

    from courses.generation.request import course_request
    from courses.models import Course

    started = time.time()
    course = course_request(topic=topic, language="en", weeks=weeks, user=None, ip=None, fresh=True).course
    seen: dict[str, float] = {}
    query = (
        "SELECT c.status, jsonb_array_length(COALESCE(c.outline_draft->'weeks', '[]'::jsonb)),"
        " (SELECT count(*) FROM courses_lesson l JOIN courses_week w ON w.id = l.week_id"
        "   WHERE l.course_id = c.id AND w.number = 1 AND l.status <> 'written'),"
        " (SELECT count(*) FROM courses_week w WHERE w.course_id = c.id)"
        " FROM courses_course c WHERE c.id = %s"
    )
    with connection.cursor() as cursor:
        while time.time() - started < timeout and "ready" not in seen:
            cursor.execute(query, [course.id])
            status, drafted, week1_left, stored = cursor.fetchone()
            now = time.time() - started
            outlined = status not in (Course.Status.QUEUED, Course.Status.OUTLINING)
            if drafted >= 2 or outlined:  # a second week begun: the first is whole
                seen.setdefault("first week visible", now)
            if outlined:
                seen.setdefault("whole outline visible", now)
            if stored and week1_left == 0:
                seen.setdefault("week 1 readable", now)
            if status in (Course.Status.READY, Course.Status.INCOMPLETE, Course.Status.FAILED):
                seen["ready"] = now
            time.sleep(0.1)
    return Course.objects.get(id=course.id), seen


def limits(course: Any, args: argparse.Namespace) -> dict[str, float]:
    """Each milestone's physical limit: its chain of dependent calls (topic screening, the outline, its
    screening, then a week's longest lesson, its screening, the week's quiz written from the lessons, its
    screening), each call as long as its first token plus the tokens it really wrote at the rate; moderation
    calls take M. Week 1 is readable once its longest lesson is screened (its quiz is not waited for); ready
    waits for the week whose chain is longest."""
    import json
    from collections import defaultdict

    from courses.models import LLMCall

    def seconds(tokens: int) -> float:
        return args.ttft + tokens / args.tps

    calls = LLMCall.objects.filter(course=course, outcome=LLMCall.Outcome.OK).exclude(stage="moderation")
    outline_tokens = calls.get(stage="outline").completion_tokens
    draft = course.outline_draft
    head = {key: draft[key] for key in ("title", "description", "audience")}
    share = len(json.dumps({**head, "weeks": draft["weeks"][:1]})) / len(json.dumps(draft))
    m = args.moderation_latency
    outline = m + seconds(outline_tokens)
    # Each part's tokens counted as the fake counts them (4 characters of the reply each); a quiz's reply
    # carries the week's readings unless the outline did (before they moved to the quiz).
    lessons: dict[int, list[int]] = defaultdict(list)
    for number, body in course.lessons.values_list("week__number", "body"):
        lessons[number].append(len(body) // 4)
    readings_in_outline = any("reading_list" in week for week in draft["weeks"])

    def week_lessons_chain(number: int) -> float:
        return seconds(max(lessons[number])) + m

    def week_chain(quiz: Any) -> float:
        reply = {"questions": quiz.questions}
        if not readings_in_outline:
            reply["reading_list"] = quiz.week.reading_list
        quiz_seconds = seconds(len(json.dumps(reply)) // 4)
        return week_lessons_chain(quiz.week.number) + quiz_seconds + m

    chains = {quiz.week.number: week_chain(quiz) for quiz in course.quizzes.select_related("week")}
    return {
        "first week visible": m + args.ttft + share * outline_tokens / args.tps,
        "whole outline visible": outline + m,
        "week 1 readable": outline + m + week_lessons_chain(1),
        "ready": outline + m + max(chains.values()),
    }


def workers_ready(count: int, timeout: float = 120) -> None:
    """Wait until every worker answers a ping: a course requested before they are up waits for them, and the
    bench would measure their start-up (~10 s on a busy 2-CPU machine), not the pipeline."""
    from school.celery import app

    deadline = time.time() + timeout
    while time.time() < deadline and len(app.control.ping(timeout=1.0) or []) < count:
        time.sleep(0.5)


def pace_report(args: argparse.Namespace) -> None:
    workers_ready(args.workers)
    course, seen = milestones("The history of mathematics", args.weeks)
    limit = limits(course, args)
    from courses.models import LLMCall

    calls = LLMCall.objects.filter(course=course).exclude(stage="moderation")
    outline = calls.get(stage="outline")
    lessons = list(calls.filter(stage="lesson").values_list("completion_tokens", flat=True))
    print(
        f"\nOne {args.weeks}-week course at a model's pace: {args.ttft:.2f}s to the first token, {args.tps:.0f} "
        f"tokens/s, moderation M = {args.moderation_latency:.2f}s; outline {outline.completion_tokens} tokens "
        f"(streamed), {len(lessons)} lessons of {min(lessons)}–{max(lessons)} tokens, "
        f"{calls.filter(stage='quiz').count()} quizzes; status {course.status}; "
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':<24}{'seconds':>9}{'limit s':>9}{'× limit':>9}")
    for name in ("first week visible", "whole outline visible", "week 1 readable", "ready"):
        print(f"{name:<24}{seen[name]:>9.1f}{limit[name]:>9.1f}{seen[name] / limit[name]:>9.2f}")
    week1_target = limit["whole outline visible"] + args.ttft + statistics.mean(lessons) / args.tps
    print(
        f"\nready {seen['ready']:.1f}s = {seen['ready'] / limit['ready']:.2f} × its limit (target ≤ 1.15); "
        f"week 1 readable {seen['week 1 readable']:.1f}s = {seen['week 1 readable'] / week1_target:.2f} × "
        f"(outline + one lesson = {week1_target:.1f}s; target ≤ 1.2); 101.school's ~{ONE_HUNDRED_ONE_SCHOOL_SECONDS}s "
        f"÷ ready = {ONE_HUNDRED_ONE_SCHOOL_SECONDS / seen['ready']:.1f}× (target ≥ 4×)"
    )


if __name__ == "__main__":
    main()
