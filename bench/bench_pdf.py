"""Render time and peak memory of the PDF of a 13-week course (4 lessons a week of ~900 words each, a quiz
per week), through the same code the "cpu" worker runs: `courses.reading.exports.course_pdf_build`.

Real PostgreSQL on its own database (sem_bench_pdf, created and dropped here). Targets: ≤ 10 s, ≤ 300 MB.

    .venv/bin/python bench/bench_pdf.py [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import database_create, database_drop, django_environ, peak_rss_mb  # noqa: E402

DATABASE = "sem_bench_pdf"
os.environ.update(
    django_environ(
        DATABASE,
        os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        MEDIA_ROOT=tempfile.mkdtemp(prefix="sem-bench-pdf-"),
    )
)

WORDS = [
    "river",
    "light",
    "memory",
    "signal",
    "pattern",
    "theory",
    "garden",
    "music",
    "number",
    "language",
    "system",
    "practice",
    "question",
    "history",
    "method",
    "example",
    "structure",
    "evidence",
    "change",
    "energy",
    "motion",
    "balance",
    "design",
    "craft",
    "idea",
    "measure",
    "story",
    "field",
]


def lesson_markdown(rng: random.Random, words: int = 900) -> str:
    """A lesson shaped like the LLM's: headings, paragraphs, a list, a quote, a code block, a table."""

    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18))).capitalize() + "."

    parts, count = [], 0
    for heading in ("Why it matters", "The main idea", "An example", "Common mistakes", "Try it yourself"):
        parts.append(f"## {heading}")
        for _ in range(3):
            paragraph = " ".join(sentence() for _ in range(4))
            parts.append(paragraph)
            count += len(paragraph.split())
        if count >= words:
            break
    parts += [
        "- " + sentence() + "\n- " + sentence() + "\n- " + sentence(),
        "> " + sentence(),
        "```\nfor step in range(3):\n    print(step)\n```",
        "| Term | Meaning |\n|---|---|\n| signal | " + sentence() + " |\n| pattern | " + sentence() + " |",
    ]
    return "\n\n".join(parts)


def course_create() -> str:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from courses.models import Lesson
    from courses.rendering import markdown_to_safe_html
    from tests.factories import written_course

    course = written_course(weeks=13, lessons_per_week=4, title="A bench course on everything")
    rng = random.Random(13)
    lessons = list(Lesson.objects.filter(course=course))
    for lesson in lessons:
        lesson.body = lesson_markdown(rng)
        lesson.body_html = markdown_to_safe_html(lesson.body)
    Lesson.objects.bulk_update(lessons, ["body", "body_html"])
    words = sum(len(lesson.body.split()) for lesson in lessons)
    print(f"course: 13 weeks, {len(lessons)} lessons, {words} words of lessons, 13 quizzes")
    return str(course.id)


def render(course_id: str, version: int, *, trace: bool = False) -> tuple[float, float | None, int]:
    """One render: (seconds, peak Python allocations in MB when traced, PDF size in bytes)."""
    from django.core.files.storage import default_storage

    from courses.reading.exports import course_pdf_build, pdf_storage_name

    name = pdf_storage_name(course_id=course_id, version=version)
    if default_storage.exists(name):
        default_storage.delete(name)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    stored = course_pdf_build(course_id=course_id, version=version)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    tracemalloc.stop()
    assert stored == name
    return seconds, peak, default_storage.size(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--trace-allocations",
        action="store_true",
        help="also trace Python allocations (makes a render ~20x slower)",
    )
    parser.add_argument("--render", metavar="COURSE_ID", help=argparse.SUPPRESS)  # the worker-like process
    args = parser.parse_args()
    if args.render:
        worker_renders(args.render, args)
        return
    database_create(DATABASE)
    try:
        course_id = course_create()
        from django.db import connections

        connections.close_all()
        # The renders run in a fresh process holding what a PDF worker process holds (Django, Celery, our tasks),
        # not this one's factories and the course it built.
        command = [sys.executable, __file__, "--render", course_id, "--runs", str(args.runs)]
        subprocess.run(command + (["--trace-allocations"] if args.trace_allocations else []), check=True)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes share them)")
    finally:
        from django.db import connections

        connections.close_all()
        database_drop(DATABASE)


def worker_renders(course_id: str, args: argparse.Namespace) -> None:
    """As a "cpu" worker process: start (Django, Celery, the tasks module), warm up, then render."""
    import django

    django.setup()
    from courses.reading.pdf import pdf_warm_up
    from school.celery import app

    app.loader.import_default_modules()  # every app's tasks module, as a worker process has them

    rss_started = peak_rss_mb()
    started = time.perf_counter()
    pdf_warm_up()  # as each PDF worker process does when it starts (courses.tasks.pdf_warm_up)
    warm_up = time.perf_counter() - started
    rss_before = peak_rss_mb()
    print(
        f"worker process: {rss_started:.0f} MB started, {rss_before:.0f} MB after its warm-up "
        f"(WeasyPrint, its stylesheets and fonts: {warm_up:.2f} s, once per process)"
    )
    runs = [render(course_id, version=1) for _ in range(args.runs)]
    rss_after = peak_rss_mb()
    for n, (seconds, _, size) in enumerate(runs, start=1):
        print(f"render {n}: {seconds:.2f} s, PDF {size / 1024:.0f} KiB")
    times = [run[0] for run in runs]
    print(f"render time: best {min(times):.2f} s, worst {max(times):.2f} s   (target ≤ 10 s)")
    print(
        f"peak memory of the rendering process: {rss_after:.0f} MB RSS, of which {rss_after - rss_before:.0f} MB "
        f"for rendering   (target ≤ 300 MB)"
    )
    if args.trace_allocations:
        _, peak, _ = render(course_id, version=1, trace=True)
        print(f"peak Python allocations during a render (tracemalloc): {peak:.0f} MB")


if __name__ == "__main__":
    main()
