"""`manage.py evaluate_course ID`: have the LLM judge a course with a fixed rubric, store the scores and reasons
in its quality report (counted in costs like every LLM call) and print them. Without a key it says it needs
one and exits non-zero."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from courses.generation import llm
from courses.models import Course
from courses.quality import judge

COURSE_NOT_FOUND = "No course with id {id}."


class Command(BaseCommand):
    help = (
        "Judge a course's lessons and weeks with the LLM (fixed rubric) and add the verdicts to its report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("course_id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            course = Course.objects.get(id=options["course_id"])
        except (Course.DoesNotExist, ValidationError):
            raise CommandError(COURSE_NOT_FOUND.format(id=options["course_id"])) from None
        try:
            quality = judge.course_evaluate(course_id=course.id)
        except judge.JudgeUnavailable as error:
            raise CommandError(str(error)) from None
        except llm.LLMError as error:
            raise CommandError(f"The judge gave no usable verdict: {error}") from None
        for entry in quality.judge["weeks"]:
            scores = ", ".join(f"{name} {entry['scores'][name]}" for name in judge.WEEK_RUBRIC)
            self.stdout.write(f"Week {entry['week']}: {scores}. {entry['reason']}")
        for entry in quality.judge["lessons"]:
            scores = ", ".join(f"{name} {entry['scores'][name]}" for name in judge.LESSON_RUBRIC)
            self.stdout.write(f"Lesson {entry['week']}.{entry['lesson']}: {scores}. {entry['reason']}")
        self.stdout.write(f"Quality score: {quality.score} (judge part: {quality.parts.get('judge')})")
