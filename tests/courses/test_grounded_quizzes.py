"""A week's quiz is written from the text of its written lessons, and every question quotes the lesson that
teaches its answer; against the fake LLM and offline, with tasks run in-process."""

from __future__ import annotations

from typing import Any

import pytest

from courses import tasks
from courses.generation import request
from courses.models import Course, Lesson, LLMCall, PartStatus, Quiz
from courses.quality.passages import passage_found, passage_section
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


def request_course(weeks: int = 4) -> Course:
    result = request.course_request(
        topic="Roman aqueducts", language="en", weeks=weeks, user=None, ip="203.0.113.9"
    )
    return Course.objects.get(id=result.course.id)


def assert_grounded(course: Course) -> None:
    for quiz in Quiz.objects.filter(course=course).select_related("week"):
        bodies = dict(Lesson.objects.filter(week=quiz.week).values_list("number", "body"))
        assert quiz.questions
        for question in quiz.questions:
            body = bodies[question["lesson"]]
            assert passage_found(question["passage"], body)
            section = passage_section(question["passage"], body)
            assert section is not None
            assert (question["section"], question["anchor"]) == (section.heading, section.anchor)


def test_each_weeks_quiz_is_asked_for_after_its_lessons_and_quotes_them(fake_openai: FakeOpenAI) -> None:
    course = request_course(weeks=4)

    assert course.status == Course.Status.READY
    tasks_in_order = [call["json"]["messages"][-1]["content"] for call in fake_openai.calls()]
    for week in course.weeks.all():
        quiz_at = next(i for i, task in enumerate(tasks_in_order) if f"quiz for week {week.number} " in task)
        lesson_calls = [i for i, task in enumerate(tasks_in_order) if f" of week {week.number} of" in task]
        assert lesson_calls
        assert max(lesson_calls) < quiz_at
        for lesson in week.lessons.all():  # the quiz prompt quotes every lesson of the week
            assert lesson.body.split("\n")[0] in tasks_in_order[quiz_at]
    assert_grounded(course)


def test_a_quiz_quoting_a_passage_its_lesson_lacks_is_asked_again(fake_openai: FakeOpenAI) -> None:
    invented: list[int] = []

    def invent_once(body: dict[str, Any]) -> Any:
        if "Write the quiz for week 2 " not in body["messages"][-1]["content"] or invented:
            return None
        invented.append(1)
        question = {
            "question": "Who built the first aqueduct of Rome?",
            "options": ["Appius Claudius", "Nero", "Trajan", "Augustus"],
            "correct_index": 0,
            "explanation": "He commissioned the Aqua Appia.",
            "lesson": 1,
            "passage": "Appius Claudius Caecus commissioned the Aqua Appia in 312 BC.",
        }
        return {
            "questions": [question] * 4,
            "reading_list": [{"title": "SPQR", "author": "Mary Beard", "url": "", "note": "A history."}],
        }

    fake_openai.override(invent_once)

    course = request_course(weeks=4)

    rejected = LLMCall.objects.get(course=course, stage="quiz", outcome=LLMCall.Outcome.INVALID_OUTPUT)
    assert "passage is not in lesson 1" in rejected.error
    quiz = Quiz.objects.get(course=course, week__number=2)
    assert quiz.status == PartStatus.WRITTEN
    assert all("Appius" not in question["passage"] for question in quiz.questions)
    assert_grounded(course)


def test_a_quiz_queued_before_its_lessons_are_written_waits_for_them(
    fake_openai: FakeOpenAI, queued_only: None
) -> None:
    course = request_course(weeks=4)
    tasks.llm_write_outline(str(course.id))
    quiz = Quiz.objects.get(course=course, week__number=1)

    tasks.llm_write_quiz(quiz.id)  # e.g. queued by the sweeper

    quiz.refresh_from_db()
    assert (quiz.status, quiz.attempts) == (PartStatus.PENDING, 0)
    assert not fake_openai.calls() or all(
        "Write the quiz" not in call["json"]["messages"][-1]["content"] for call in fake_openai.calls()
    )


def test_the_offline_generator_writes_grounded_quizzes(offline: None) -> None:
    course = request_course(weeks=4)

    assert course.status == Course.Status.READY
    assert_grounded(course)
