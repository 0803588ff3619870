"""The offline generator: with no OPENAI_API_KEY, the same pipeline writes a complete, clearly labelled course."""

from __future__ import annotations

from typing import Any

import pytest

from courses.generation.offline import ENGLISH_ONLY_NOTE, OFFLINE_LABEL, OFFLINE_NOTE
from courses.generation.request import course_request
from courses.models import Course, LLMCall, PartStatus
from courses.selectors import course_progress
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def no_key(fake_openai: FakeOpenAI, settings: Any) -> FakeOpenAI:
    """A reachable LLM that must not be called: the key is missing, so everything stays offline."""
    settings.OPENAI_API_KEY = ""
    return fake_openai


def request(topic: str = "Beekeeping", language: str = "en", weeks: int = 13) -> Course:
    result = course_request(topic=topic, language=language, weeks=weeks, user=None, ip=None, fresh=True)
    return Course.objects.get(id=result.course.id)


def test_it_writes_a_complete_13_week_course_without_any_network(no_key: FakeOpenAI) -> None:
    course = request(weeks=13)

    assert course.status == Course.Status.READY
    assert course.generator == "offline"
    assert course.is_offline
    assert course.weeks.count() == 13
    assert course.lessons.filter(status=PartStatus.WRITTEN).count() == course.lessons.count() >= 39
    assert course.quizzes.filter(status=PartStatus.WRITTEN).count() == 13
    assert no_key.requests == []
    parts = course.lessons.count() + course.quizzes.count()
    calls = LLMCall.objects.filter(course=course)
    assert calls.count() == 1 + parts
    assert set(calls.values_list("model", "outcome", "prompt_tokens", "completion_tokens")) == {
        ("offline", "ok", 0, 0)
    }
    assert course_progress(course=course).is_offline


def test_it_says_plainly_that_it_was_generated_offline(no_key: FakeOpenAI) -> None:
    course = request(weeks=4)

    assert OFFLINE_LABEL in course.description
    assert all(week.overview.startswith(OFFLINE_NOTE) for week in course.weeks.all())
    for lesson in course.lessons.all():
        assert lesson.body.startswith(OFFLINE_NOTE)
        assert f"<strong>{OFFLINE_LABEL}.</strong>" in lesson.body_html
        assert "## Exercise" in lesson.body


def test_it_is_deterministic(no_key: FakeOpenAI) -> None:
    first, second = request(weeks=4), request(weeks=4)

    def content(course: Course) -> list[Any]:
        lessons = list(course.lessons.order_by("week__number", "number").values_list("title", "body"))
        quizzes = list(course.quizzes.order_by("week__number").values_list("questions", flat=True))
        return [course.title, lessons, quizzes]

    assert content(first) == content(second)


def test_it_says_it_writes_english_only_when_another_language_was_asked(no_key: FakeOpenAI) -> None:
    course = request(language="fr", weeks=4)

    assert course.language == "fr"
    assert all(ENGLISH_ONLY_NOTE in lesson.body for lesson in course.lessons.all())
