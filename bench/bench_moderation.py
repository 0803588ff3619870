"""How the moderation pages and the spend cap hold up on a busy installation; prints figures, asserts nothing.

Creates a PostgreSQL database of its own (sem_bench_moderation, dropped at the end) and fills it with
COURSES courses (a tenth waiting for review, some held with flags, some reported) and CALLS LLM calls over
30 days, a third of them today. Then times, as a superuser through Django's test client:
- `spend_cap_reached()`, which every course request runs (target: median under 50 ms);
- the moderation queue, the full course list, the cost dashboard and one 13-week course's content page
  (target: under 500 ms each), with their query counts (they must not grow with the data).

    .venv/bin/python bench/bench_moderation.py [--courses 3000] [--calls 150000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import database_create, database_drop, django_environ  # noqa: E402

DB_NAME = "sem_bench_moderation"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=3000)
    parser.add_argument("--calls", type=int, default=150_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    os.environ.update(
        django_environ(DB_NAME, redis_url, ALLOWED_HOSTS="testserver,localhost", OPENAI_API_KEY="")
    )
    database_create(DB_NAME)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True)
        import django

        django.setup()
        started = time.perf_counter()
        course_id = seed(args.courses, args.calls)
        print(
            f"seeded {args.courses} courses and {args.calls} LLM calls in {time.perf_counter() - started:.1f} s"
        )
        measure(course_id, args.repeat)
    finally:
        from django.db import connections

        connections.close_all()
        database_drop(DB_NAME)


def seed(courses: int, calls: int) -> str:
    """Rows in bulk; returns the id of a 13-week course with every part written."""
    from django.utils import timezone

    from courses.models import ContentFlag, Course, LessonReport, LLMCall, PartKind
    from tests.factories import UserFactory, written_course

    now = timezone.now()
    users = [UserFactory(email=f"learner{n}@example.org") for n in range(200)]
    rows = Course.objects.bulk_create(
        Course(
            topic=f"Topic {n}",
            topic_key=f"topic {n}",
            title=f"Course {n}",
            status=Course.Status.READY,
            ready_at=now - timedelta(minutes=n),
            review_state=Course.Review.PENDING if n % 10 == 0 else Course.Review.APPROVED,
            held_for_review=n % 50 == 0,
            requested_by=users[n % len(users)],
        )
        for n in range(courses)
    )
    full = written_course(weeks=13, lessons_per_week=4)
    lesson = full.lessons.first()
    ContentFlag.objects.bulk_create(
        ContentFlag(
            course=course, part_kind=PartKind.OUTLINE, source="checks", code="chatter", detail="Chatter"
        )
        for course in rows
        if course.held_for_review
    )
    LessonReport.objects.bulk_create(
        LessonReport(lesson=lesson, course=full, reason="wrong") for _ in range(300)
    )
    models = ["gpt-4o-mini-2024-07-18", "gpt-4o", "omni-moderation-latest"]
    LLMCall.objects.bulk_create(
        (
            LLMCall(
                course=rows[n % len(rows)],
                stage="lesson",
                model=models[n % 3],
                prompt_tokens=3000,
                cached_tokens=1500,
                completion_tokens=1200,
                outcome="ok" if n % 25 else "rate_limited",
            )
            for n in range(calls)
        ),
        batch_size=5000,
    )
    # A third today, the rest spread over the month.
    ids = list(LLMCall.objects.order_by("id").values_list("id", flat=True))
    for day in range(1, 30):
        chunk = ids[
            calls // 3 + (day - 1) * (calls * 2 // 3 // 29) : calls // 3 + day * (calls * 2 // 3 // 29)
        ]
        LLMCall.objects.filter(id__in=chunk).update(created_at=now - timedelta(days=day))
    return str(full.pk)


def measure(course_id: str, repeat: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from courses.moderation import costs
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(email="root@example.org", is_staff=True, is_superuser=True))

    def page(url: str) -> Callable[[], object]:
        def get() -> object:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response

        return get

    print(f"spend today: ${costs.spend_today_usd():,.2f}")
    print(f"{'what':<34} {'median ms':>10} {'max ms':>8} {'queries':>8}")
    for name, action in [
        ("spend_cap_reached()", costs.spend_cap_reached),
        ("moderation queue", page("/admin/courses/course/")),
        ("all courses, page 1", page("/admin/courses/course/?queue=all")),
        ("cost dashboard (30 days)", page("/admin/courses/course/dashboard/")),
        ("13-week course content page", page(f"/admin/courses/course/{course_id}/content/")),
    ]:
        action()  # warm caches and connections
        with CaptureQueriesContext(connection) as captured:
            action()
        queries = len(captured)  # now: the next request clears the log it reads from
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            action()
            times.append((time.perf_counter() - started) * 1000)
        print(f"{name:<34} {statistics.median(times):>10.1f} {max(times):>8.1f} {queries:>8}")


if __name__ == "__main__":
    main()
