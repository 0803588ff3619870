"""Throughput and latency of the learner's course and lesson pages (13 weeks × 4 lessons) under gunicorn,
anonymous and signed in, side by side with a trivial view (/robots.txt) served by the same server in the same
run, at 20 concurrent clients.

Real PostgreSQL on its own database (sem_bench_pages, created and dropped here) and Redis. Prints the figures;
targets: each page ≥ 30% of the trivial view's requests/s, p95 < 100 ms, ≤ 6 SQL queries per page.

    .venv/bin/python bench/bench_pages.py [--seconds 3] [--rounds 6] [--clients 20] [--workers 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import database_create, database_drop, django_environ, gunicorn_start  # noqa: E402

DATABASE = os.environ.get("BENCH_DATABASE", "sem_bench_pages")  # another name beside a running one
os.environ.update(
    django_environ(
        DATABASE,
        os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        DEBUG="false",
    )
)


def course_create() -> tuple[str, str, str]:
    """Migrate, then build a public 13 × 4 course and a learner with some progress; returns the course page's
    path, a lesson page's path (week 3, where the learner is) and the learner's session."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from courses.models import Lesson
    from delivery.learning.progress import lesson_mark_done
    from tests.factories import UserFactory, signed_in_session, written_course

    course = written_course(weeks=13, lessons_per_week=4, review_state="approved")
    learner = UserFactory()
    lessons = list(Lesson.objects.filter(course=course).order_by("week__number", "number"))
    for lesson in lessons[:10]:
        lesson_mark_done(user=learner, lesson=lesson)
    return course.get_absolute_url(), lessons[10].get_absolute_url(), signed_in_session(learner)


def queries_per_page(paths: dict[str, str], session_key: str) -> dict[str, int]:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for page, path in paths.items():
        for label, cookies in (("anonymous", {}), ("signed in", {settings.SESSION_COOKIE_NAME: session_key})):
            client = Client()
            client.cookies.load(cookies)
            for visit in ("first", "later"):  # the first visit fills the course-structure cache
                with CaptureQueriesContext(connection) as captured:
                    assert client.get(path).status_code == 200
                counts[f"{page} {label}, {visit}"] = len(captured)
    return counts


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")


def hammer(port: int, path: str, *, seconds: float, clients: int, cookie: str = "") -> Run:
    """`clients` threads each send GET `path` back to back for `seconds`; every latency is kept."""
    run, lock = Run(), threading.Lock()
    deadline = time.perf_counter() + seconds
    headers = {"Cookie": cookie} if cookie else {}

    def client() -> None:
        latencies, errors = [], 0
        while time.perf_counter() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
            except OSError:
                errors += 1
            finally:
                conn.close()
        with lock:
            run.latencies += latencies
            run.errors += errors

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run


def csrf_cookie(port: int, path: str, session_key: str) -> str:
    """The CSRF cookie the server gives a signed-in learner on their first page."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": f"sessionid={session_key}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.getheader("Set-Cookie", "").split("csrftoken=")[1].split(";")[0]


def merge(runs: list[Run]) -> Run:
    merged = Run()
    for run in runs:
        merged.latencies += run.latencies
        merged.errors += run.errors
        merged.seconds += run.seconds
    return merged


def report(label: str, run: Run) -> None:
    print(
        f"{label:<28} {run.rps:8.1f} req/s   p50 {run.percentile(50):6.1f} ms   p95 {run.percentile(95):6.1f} ms"
        f"   p99 {run.percentile(99):6.1f} ms   ({len(run.latencies)} ok, {run.errors} errors)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Many short rounds, alternating: this machine's speed drifts over minutes, and a page measured a minute
    # after the trivial view was measured against another machine.
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement round")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per page")
    parser.add_argument("--clients", type=int, default=20)
    # The same gunicorn settings as compose.yaml and the Dockerfile.
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    args = parser.parse_args()

    database_create(DATABASE)
    server = None
    try:
        course_path, lesson_path, session_key = course_create()
        pages = {"course page": course_path, "lesson page": lesson_path}
        queries = queries_per_page(pages, session_key)
        from django.db import connections

        connections.close_all()
        port = 8700 + os.getpid() % 200
        server = gunicorn_start(port, os.environ.copy(), workers=args.workers, threads=args.threads)
        # A signed-in learner's browser holds the CSRF cookie its first page set (the sign-in form's, at the
        # latest), so only the anonymous clients come without one, as a first visit does.
        cookie = f"sessionid={session_key}; csrftoken={csrf_cookie(port, course_path, session_key)}"
        for target in ("/robots.txt", course_path, lesson_path):  # warm up: imports, connections, templates
            hammer(port, target, seconds=1.5, clients=args.clients)
            hammer(port, target, seconds=0.5, clients=args.clients, cookie=cookie)
        trivial: list[Run] = []
        runs: dict[str, list[Run]] = {}
        for _ in range(args.rounds):  # alternate, so every page sees the same machine conditions
            trivial.append(hammer(port, "/robots.txt", seconds=args.seconds, clients=args.clients))
            for page, path in pages.items():
                for who, with_cookie in (("anonymous", ""), ("signed in", cookie)):
                    run = hammer(port, path, seconds=args.seconds, clients=args.clients, cookie=with_cookie)
                    runs.setdefault(f"{page}, {who}", []).append(run)
        trivial_run = merge(trivial)
        merged = {label: merge(page_runs) for label, page_runs in runs.items()}
        load = os.getloadavg()[0]
        print(
            f"gunicorn: {args.workers} workers × {args.threads} threads; {args.clients} concurrent clients; "
            f"{os.cpu_count()} CPUs; load average {load:.1f} (other processes share these CPUs)"
        )
        report("trivial view (/robots.txt)", trivial_run)
        for label, run in merged.items():
            report(label, run)
        for label, run in merged.items():
            ratio = run.rps / trivial_run.rps if trivial_run.rps else 0.0
            print(
                f"ratio {label} / trivial: {ratio:.0%}   (target ≥ 30%; p95 {run.percentile(95):.1f} ms, target < 100)"
            )
        counts = ", ".join(f"{n} {label}" for label, n in queries.items())
        print(f"SQL queries per page: {counts}   (target ≤ 6)")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        from django.db import connections

        connections.close_all()
        database_drop(DATABASE)


if __name__ == "__main__":
    main()
