"""`manage.py evaluate_course ID`: the LLM judge's rubric per lesson and week, stored in the report and counted
in costs; without a key it refuses."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from courses.generation import prompts
from courses.models import LLMCall, QualityReport
from courses.quality import judge, report
from tests.factories import written_course
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db


def test_without_a_key_it_says_it_needs_one_and_fails(offline: None) -> None:
    course = written_course(weeks=1, lessons_per_week=1)

    with pytest.raises(CommandError, match="needs a model: set OPENAI_API_KEY"):
        call_command("evaluate_course", str(course.pk))

    assert not LLMCall.objects.exists()


def test_the_judge_scores_every_lesson_and_week_into_the_report_and_costs(fake_openai: FakeOpenAI) -> None:
    course = written_course(weeks=2, lessons_per_week=2)
    out = StringIO()

    call_command("evaluate_course", str(course.pk), stdout=out)

    quality = QualityReport.objects.get(course=course)
    assert [(e["week"], e["lesson"]) for e in quality.judge["lessons"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert [set(e["scores"]) for e in quality.judge["weeks"]] == [
        {"objectives_coverage", "quiz_alignment"}
    ] * 2
    scores = [s for e in quality.judge["lessons"] + quality.judge["weeks"] for s in e["scores"].values()]
    assert all(1 <= score <= 5 for score in scores)
    assert quality.parts["judge"] == round(20 * sum(scores) / len(scores))
    assert report.JUDGE_MISSING not in quality.unchecked
    assert LLMCall.objects.filter(course=course, stage="judge", outcome="ok").count() == 6
    # The rubric is fixed and the lesson is quoted as data.
    first = fake_openai.calls()[0]["json"]["messages"]
    assert first[0]["content"] == prompts.JUDGE_SYSTEM
    assert "<<<LESSON 1\n## Why it matters" in first[1]["content"]
    assert "Week 1: objectives_coverage" in out.getvalue()


def test_an_unknown_course_is_refused() -> None:
    with pytest.raises(CommandError, match="No course with id nope"):
        call_command("evaluate_course", "nope")


def test_the_service_refuses_offline_too(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    with pytest.raises(judge.JudgeUnavailable):
        judge.course_evaluate(course_id=written_course(weeks=1, lessons_per_week=1).pk)
