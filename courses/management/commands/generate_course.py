"""`manage.py generate_course "TOPIC" [--weeks N] [--language CODE] [--fresh] [--review] [--wait]`: request a course and
print its address; with --wait, follow its progress until it ends: ready (exit 0), or failed or incomplete
(exit 1, with the reason and each part that failed for good), or, with --review, its outline written (printed,
with the page where it is confirmed). It never waits on a course that cannot change by itself."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from courses import selectors
from courses.errors import CourseRequestError
from courses.generation.request import course_request
from courses.models import Course


class Command(BaseCommand):
    help = "Write a course on TOPIC through the generation pipeline and print its address."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("topic")
        parser.add_argument("--weeks", type=int, default=settings.COURSE_WEEKS_DEFAULT)
        parser.add_argument("--language", default="en", help="one of settings.COURSE_LANGUAGES' codes")
        parser.add_argument(
            "--fresh", action="store_true", help="write a new course even if one can be reused"
        )
        parser.add_argument(
            "--review",
            action="store_true",
            help="write the outline only; its weeks wait until it is confirmed on the course's page",
        )
        parser.add_argument("--wait", action="store_true", help="follow progress until ready or failed")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between progress checks")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = course_request(
                topic=options["topic"],
                language=options["language"],
                weeks=options["weeks"],
                user=None,
                ip=None,
                fresh=options["fresh"],
                review_outline=options["review"],
            )
        except CourseRequestError as error:
            raise CommandError(f"{error.field}: {error.message}") from None
        course = result.course
        if result.reused:
            self.stdout.write(
                "An approved course already covers this; reusing it (use --fresh for a new one)."
            )
        self.stdout.write(settings.SITE_URL + course.get_absolute_url())
        if options["wait"]:
            self._follow(course, options["poll"])

    def _follow(self, course: Course, poll: float) -> None:
        last_line = ""
        while True:
            course.refresh_from_db(fields=["status", "status_reason", "generator"])
            progress = selectors.course_progress(course=course)
            line = _progress_line(progress)
            if line != last_line:
                self.stdout.write(line)
                last_line = line
            if progress.status == Course.Status.FAILED:
                raise CommandError(f"failed: {progress.reason}{_llm_detail(course)}")
            if progress.status == Course.Status.INCOMPLETE:
                raise CommandError(_incomplete_message(progress))
            if progress.status == Course.Status.READY:
                return
            if progress.status == Course.Status.OUTLINED:  # a person's turn: nothing changes until they act
                course.refresh_from_db(fields=["outline_draft"])
                self.stdout.write(_outline_lines(course))
                return
            time.sleep(poll)


def _llm_detail(course: Course) -> str:
    """What the server itself said, and on which call: the reason above is written for the requester."""
    call = selectors.course_last_llm_failure(course=course)
    return f"\nlast failed LLM call: {selectors.llm_call_summary(call)}" if call else ""


def _progress_line(progress: selectors.CourseProgress) -> str:
    if progress.status == Course.Status.WRITING:
        failed = f", {progress.parts_failed} failed" if progress.parts_failed else ""
        return f"writing {progress.parts_written}/{progress.parts_total} parts{failed}"
    return progress.status


def _outline_lines(course: Course) -> str:
    weeks = course.outline_draft.get("weeks") or []
    lines = [f"Week {n}: {week.get('title', '')}" for n, week in enumerate(weeks, start=1)]
    address = settings.SITE_URL + reverse("courses:writing", args=[course.id])
    lines.append(f"The outline waits for review: shape and confirm it at {address}")
    return "\n".join(lines)


def _incomplete_message(progress: selectors.CourseProgress) -> str:
    lines = [f"incomplete: {progress.parts_failed} of {progress.parts_total} parts failed every attempt"]
    lines += [
        f"  week {part.week}, {part.kind} {part.title!r}: {part.reason}" for part in progress.failed_parts
    ]
    return "\n".join(lines)
