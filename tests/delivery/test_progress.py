from __future__ import annotations

import pytest

from courses.models import Course
from delivery.learning.progress import (
    CHOICE_OUT_OF_RANGE,
    QUESTION_OUT_OF_RANGE,
    ProgressError,
    lesson_mark_done,
    lesson_mark_undone,
    quiz_answer_record,
    quiz_attempt_record,
    week_mark_done,
)
from delivery.models import Enrollment, LessonCompletion, QuizAttempt, Source
from tests.factories import UserFactory, written_course

pytestmark = pytest.mark.django_db


@pytest.fixture
def course() -> Course:
    return written_course(weeks=4, lessons_per_week=3)


def test_marking_a_lesson_done_twice_records_it_once(course: Course) -> None:
    learner = UserFactory()
    lesson = course.lessons.first()
    assert lesson is not None
    lesson_mark_done(user=learner, lesson=lesson)
    lesson_mark_done(user=learner, lesson=lesson)
    assert LessonCompletion.objects.filter(user=learner, lesson=lesson).count() == 1
    assert Enrollment.objects.get(user=learner, course=course).completed_at is None


def test_finishing_every_lesson_completes_the_enrollment(course: Course) -> None:
    learner = UserFactory()
    for week in course.weeks.all():
        week_mark_done(user=learner, week=week, source=Source.EMAIL)
    enrollment = Enrollment.objects.get(user=learner, course=course)
    assert enrollment.completed_at is not None
    assert LessonCompletion.objects.filter(user=learner, course=course, source=Source.EMAIL).count() == 12


def test_marking_a_week_done_counts_only_the_lessons_not_yet_done(course: Course) -> None:
    learner = UserFactory()
    week = course.weeks.get(number=1)
    lesson_mark_done(user=learner, lesson=week.lessons.get(number=1))
    assert week_mark_done(user=learner, week=week) == 2
    assert week_mark_done(user=learner, week=week) == 0


def test_undoing_a_lesson_reopens_a_completed_enrollment(course: Course) -> None:
    learner = UserFactory()
    for week in course.weeks.all():
        week_mark_done(user=learner, week=week)
    lesson_mark_undone(user=learner, lesson=course.lessons.first())  # type: ignore[arg-type]
    assert Enrollment.objects.get(user=learner, course=course).completed_at is None


def test_a_quiz_attempt_is_scored_and_stored(course: Course) -> None:
    learner = UserFactory()
    quiz = course.quizzes.first()
    assert quiz is not None
    attempt, results = quiz_attempt_record(user=learner, quiz=quiz, answers={0: 0, 1: 1, 2: 0})
    assert (attempt.score, attempt.total) == (2, 4)
    assert [result.is_correct for result in results] == [True, False, True, False]
    assert attempt.answers == {"0": 0, "1": 1, "2": 0}


@pytest.mark.parametrize(
    ("answers", "message"),
    [({9: 0}, QUESTION_OUT_OF_RANGE), ({0: 7}, CHOICE_OUT_OF_RANGE), ({0: -1}, CHOICE_OUT_OF_RANGE)],
)
def test_answers_outside_the_quiz_are_refused_and_nothing_is_stored(
    course: Course, answers: dict[int, int], message: str
) -> None:
    quiz = course.quizzes.first()
    assert quiz is not None
    with pytest.raises(ProgressError, match=message):
        quiz_attempt_record(user=UserFactory(), quiz=quiz, answers=answers)
    assert not QuizAttempt.objects.exists()


def test_email_answers_gather_in_one_attempt_and_the_latest_click_stands(course: Course) -> None:
    learner = UserFactory()
    quiz = course.quizzes.first()
    assert quiz is not None
    quiz_answer_record(user=learner, quiz=quiz, question=0, choice=3)  # a mail scanner, say
    _, second = quiz_answer_record(user=learner, quiz=quiz, question=1, choice=2)
    _, again = quiz_answer_record(user=learner, quiz=quiz, question=0, choice=0)
    attempt = QuizAttempt.objects.get(user=learner, quiz=quiz)
    assert attempt.answers == {"0": 0, "1": 2}
    assert (attempt.score, attempt.total) == (1, 4)
    assert not second.is_correct
    assert again.chosen == 0
