"""Nothing is lost at sign-in: what a visitor did anonymously joins the account they sign in to."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from courses.models import Course, Lesson, Quiz
from courses.visibility import REQUESTED_SESSION_KEY
from delivery.learning.progress import lesson_mark_done, quiz_attempt_record
from delivery.models import Enrollment, LessonCompletion, QuizAttempt
from tests.factories import CourseFactory, UserFactory, written_course

pytestmark = pytest.mark.django_db


def sign_in(client: Client, email: str) -> None:
    client.post(reverse("accounts:sign_in"), {"email": email})
    match = re.search(r"https://semester\.test(/accounts/sign-in/\S+/)", str(mail.outbox[-1].body))
    assert match
    assert client.post(match.group(1)).status_code == 302


def lessons_of(course: Course) -> list[Lesson]:
    return list(Lesson.objects.filter(course=course).order_by("week__number", "number"))


def quiz_url(course: Course, week: int = 1) -> str:
    return reverse("delivery:quiz", args=[course.id, week])


def work_anonymously(client: Client, course: Course) -> None:
    for lesson in lessons_of(course)[:2]:
        client.post(reverse("delivery:lesson_done", args=[course.id, lesson.id]), {"done": "1"})
    client.post(quiz_url(course), {"q0": "0", "q1": "0", "q2": "1", "q3": "1"})  # 2 of 4


def test_lessons_done_and_quiz_attempts_made_anonymously_join_the_account_at_sign_in(client: Client) -> None:
    course = written_course(weeks=2, lessons_per_week=2)
    work_anonymously(client, course)

    sign_in(client, "ada@example.com")

    learner = User.objects.get(email="ada@example.com")
    done = set(LessonCompletion.objects.filter(user=learner).values_list("lesson_id", flat=True))
    assert done == {lesson.id for lesson in lessons_of(course)[:2]}
    attempt = QuizAttempt.objects.get(user=learner)
    assert (attempt.score, attempt.total, attempt.course_id) == (2, 4, course.id)
    assert Enrollment.objects.filter(user=learner, course=course).exists()
    assert "You scored 2 out of 4" in client.get(quiz_url(course)).content.decode()  # not a blank quiz
    html = client.get(reverse("delivery:my_learning")).content.decode()
    assert "2 of 4 (50%)" in html
    assert "1 taken, 50% on average" in html


def test_work_the_learner_had_already_recorded_is_merged_without_duplicates(client: Client) -> None:
    course = written_course(weeks=2, lessons_per_week=2)
    learner = UserFactory(email="ada@example.com")
    lesson_mark_done(user=learner, lesson=lessons_of(course)[0])
    quiz = Quiz.objects.get(course=course, week__number=1)
    quiz_attempt_record(user=learner, quiz=quiz, answers={0: 0, 1: 0, 2: 1, 3: 1})
    work_anonymously(client, course)

    sign_in(client, "ada@example.com")

    assert LessonCompletion.objects.filter(user=learner).count() == 2
    assert QuizAttempt.objects.filter(user=learner).count() == 1
    assert Enrollment.objects.filter(user=learner).count() == 1


def test_the_session_copy_is_forgotten_once_carried(client: Client) -> None:
    course = written_course(weeks=1, lessons_per_week=2)
    work_anonymously(client, course)
    sign_in(client, "ada@example.com")
    client.logout()
    sign_in(client, "bob@example.com")  # the same browser, another person: nothing of Ada's
    bob = User.objects.get(email="bob@example.com")
    assert not LessonCompletion.objects.filter(user=bob).exists()
    assert not QuizAttempt.objects.filter(user=bob).exists()


def test_courses_asked_for_anonymously_become_the_learners_and_show_in_my_learning(client: Client) -> None:
    mine = CourseFactory(topic="Sourdough baking", requested_by=None)
    someone_elses = CourseFactory(topic="Knots", requested_by=UserFactory())
    session = client.session
    session[REQUESTED_SESSION_KEY] = [str(mine.id), str(someone_elses.id)]
    session.save()

    sign_in(client, "ada@example.com")

    learner = User.objects.get(email="ada@example.com")
    mine.refresh_from_db()
    someone_elses.refresh_from_db()
    assert mine.requested_by == learner
    assert someone_elses.requested_by != learner
    html = client.get(reverse("delivery:my_learning")).content.decode()
    assert "Courses you asked for" in html
    assert "Sourdough baking" in html
    assert "You have not started a course yet" not in html
