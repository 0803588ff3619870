"""`course_progress`: what a person watching a course being written sees, in at most two queries."""

from __future__ import annotations

from typing import Any

import pytest

from courses.models import Course, Lesson, PartStatus, Quiz
from courses.selectors import (
    STAGE_OUTLINING,
    STAGE_READY,
    STAGE_WRITING,
    STAGE_WRITING_WITH_FAILURES,
    FailedPart,
    course_outline,
    course_progress,
    quiz_question_lessons,
)
from tests.factories import CourseFactory, written_course

pytestmark = pytest.mark.django_db


def test_it_counts_written_and_failed_parts_in_two_queries(django_assert_max_num_queries: Any) -> None:
    course = written_course(weeks=4, lessons_per_week=3, status=Course.Status.WRITING, ready_at=None)
    lesson = Lesson.objects.get(course=course, week__number=2, number=3)
    Lesson.objects.filter(id=lesson.id).update(status=PartStatus.FAILED, failure_reason="It kept failing.")
    quiz = Quiz.objects.get(course=course, week__number=1)
    Quiz.objects.filter(id=quiz.id).update(status=PartStatus.PENDING)

    with django_assert_max_num_queries(2):
        progress = course_progress(course=course)

    assert (progress.parts_written, progress.parts_total, progress.parts_failed) == (14, 16, 1)
    assert progress.percent == 87
    assert progress.failed_parts == (FailedPart("lesson", lesson.id, 2, lesson.title, "It kept failing."),)
    assert progress.stage_label == STAGE_WRITING_WITH_FAILURES.format(written=14, total=16, failed=1)
    assert not progress.is_finished


def test_it_labels_each_stage() -> None:
    writing = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None)
    Lesson.objects.filter(course=writing, week__number=4).update(status=PartStatus.PENDING)

    assert (
        course_progress(course=CourseFactory(status=Course.Status.OUTLINING)).stage_label == STAGE_OUTLINING
    )
    assert course_progress(course=writing).stage_label == STAGE_WRITING.format(written=16, total=20, failed=0)
    ready = course_progress(course=written_course(weeks=4))
    assert (ready.stage_label, ready.percent, ready.is_finished) == (STAGE_READY, 100, True)


def test_a_failed_course_shows_its_reason() -> None:
    course = CourseFactory(status=Course.Status.FAILED, status_reason="We could not plan this course.")

    progress = course_progress(course=course)

    assert (progress.reason, progress.parts_total, progress.percent) == (
        "We could not plan this course.",
        0,
        0,
    )
    assert progress.is_finished


def test_the_outline_is_built_from_the_rows_in_two_queries(django_assert_num_queries: Any) -> None:
    course = written_course(weeks=5, lessons_per_week=3)

    with django_assert_num_queries(2):
        outline = course_outline(course=course)

    assert [week["number"] for week in outline["weeks"]] == [1, 2, 3, 4, 5]
    assert [lesson["title"] for lesson in outline["weeks"][1]["lessons"]] == [
        "Lesson 2.1",
        "Lesson 2.2",
        "Lesson 2.3",
    ]
    assert outline["topic"] == course.topic


def test_each_quiz_question_goes_to_the_lesson_it_names_else_to_the_one_it_shares_most_words_with() -> None:
    course = written_course(weeks=1, lessons_per_week=3)
    first, second, third = Lesson.objects.filter(course=course).order_by("number")
    Lesson.objects.filter(id=third.id).update(title="Siege engines", summary="Trebuchets and mangonels.")
    quiz = Quiz.objects.get(course=course)
    quiz.questions = [
        {"question": "Why?", "options": ["a", "b", "c"], "answer": 0, "explanation": "", "lesson": 2},
        {
            "question": "Which threw stones farther?",
            "options": ["Trebuchets", "Bows", "c"],
            "answer": 0,
            "explanation": "",
        },
        {"question": "Unrelated?", "options": ["x", "y", "z"], "answer": 0, "explanation": ""},
    ]
    quiz.save(update_fields=["questions"])

    lessons = quiz_question_lessons(quiz=quiz)

    assert (lessons[0], lessons[1], lessons[2]) == (second, third, first)
