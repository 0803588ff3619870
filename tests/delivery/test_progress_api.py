from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import api_token_create
from courses.models import Course, PartStatus, Quiz
from delivery.learning.api import ANSWERS_COUNT, LESSON_NOT_FOUND, QUIZ_NOT_FOUND, QUIZ_NOT_WRITTEN
from delivery.learning.progress import CHOICE_OUT_OF_RANGE
from delivery.models import LessonCompletion, QuizAttempt, Source
from tests.factories import UserFactory, first_lesson, written_course

pytestmark = pytest.mark.django_db


@pytest.fixture
def learner() -> User:
    return UserFactory()


@pytest.fixture
def token(learner: User) -> str:
    return api_token_create(user=learner, name="tests")[1]


@pytest.fixture
def course() -> Course:
    return written_course(weeks=2, lessons_per_week=2)


def call(client: Client, path: str, body: Any = None, token: str = "") -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if body is None:
        return client.get(path, **headers)
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(path, data, content_type="application/json", **headers)


def errors(response: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def test_a_learner_marks_a_lesson_done_and_undone(
    client: Client, course: Course, learner: User, token: str
) -> None:
    lesson = first_lesson(course)
    path = f"/api/courses/{course.id}/lessons/{lesson.id}/done"
    response = call(client, path, {}, token)
    assert response.status_code == 200
    assert response.json() == {"lesson_id": lesson.id, "done": True}
    assert LessonCompletion.objects.get(user=learner, lesson=lesson).source == Source.API
    call(client, path, {"done": False}, token)
    assert not LessonCompletion.objects.filter(user=learner).exists()


def test_progress_needs_a_token(client: Client, course: Course) -> None:
    lesson = first_lesson(course)
    assert call(client, f"/api/courses/{course.id}/lessons/{lesson.id}/done", {}).status_code == 401
    assert call(client, "/api/me/courses").status_code == 401
    assert call(client, "/api/me/courses", token="sem_wrong").status_code == 401


@pytest.mark.parametrize("lesson_id", ["0", "99999999", "99999999999999999999999"])
def test_an_unknown_lesson_is_404_naming_it(
    client: Client, course: Course, token: str, lesson_id: str
) -> None:
    response = call(client, f"/api/courses/{course.id}/lessons/{lesson_id}/done", {}, token)
    assert response.status_code == 404
    assert errors(response) == {"lesson_id": LESSON_NOT_FOUND}


def test_a_lesson_of_another_course_is_404(client: Client, course: Course, token: str) -> None:
    other = first_lesson(written_course(weeks=1, lessons_per_week=1))
    response = call(client, f"/api/courses/{course.id}/lessons/{other.id}/done", {}, token)
    assert response.status_code == 404


@pytest.mark.parametrize("body", ['{"done": "sometimes"}', '{"done": true, "extra": 1}', "[true]", "{oops"])
def test_bad_bodies_are_4xx_naming_the_field(client: Client, course: Course, token: str, body: str) -> None:
    lesson = first_lesson(course)
    response = call(client, f"/api/courses/{course.id}/lessons/{lesson.id}/done", body, token)
    assert 400 <= response.status_code < 500
    assert errors(response)


def test_a_quiz_is_graded_stored_and_explained(
    client: Client, course: Course, learner: User, token: str
) -> None:
    response = call(client, f"/api/courses/{course.id}/weeks/1/quiz", {"answers": [0, 1, 0, 0]}, token)
    assert response.status_code == 200
    body = response.json()
    assert (body["score"], body["total"]) == (3, 4)
    assert body["results"][1] == {
        "number": 1,
        "chosen": 1,
        "correct": 0,
        "is_correct": False,
        "explanation": "Because the lesson said so.",
    }
    attempt = QuizAttempt.objects.get(user=learner)
    assert (attempt.id, attempt.source) == (body["attempt_id"], Source.API)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([0, 0], ANSWERS_COUNT.format(count=4)),
        ([0, 0, 0, 7], CHOICE_OUT_OF_RANGE),
        ([0, 0, 0, -1], CHOICE_OUT_OF_RANGE),
    ],
)
def test_bad_quiz_answers_are_422_naming_answers(
    client: Client, course: Course, token: str, answers: list[int], message: str
) -> None:
    response = call(client, f"/api/courses/{course.id}/weeks/1/quiz", {"answers": answers}, token)
    assert response.status_code == 422
    assert errors(response) == {"answers": message}
    assert not QuizAttempt.objects.exists()


def test_quiz_answers_of_the_wrong_type_are_422(client: Client, course: Course, token: str) -> None:
    response = call(client, f"/api/courses/{course.id}/weeks/1/quiz", {"answers": "abcd"}, token)
    assert response.status_code == 422
    assert "answers" in errors(response)


@pytest.mark.parametrize("number", ["7", "99999999999999999999999"])
def test_a_quiz_of_a_week_that_does_not_exist_is_404(
    client: Client, course: Course, token: str, number: str
) -> None:
    response = call(client, f"/api/courses/{course.id}/weeks/{number}/quiz", {"answers": [0]}, token)
    assert response.status_code == 404
    assert errors(response) == {"number": QUIZ_NOT_FOUND}


def test_a_quiz_not_written_yet_is_409(client: Client, course: Course, token: str) -> None:
    Quiz.objects.filter(course=course, week__number=2).update(status=PartStatus.FAILED)
    response = call(client, f"/api/courses/{course.id}/weeks/2/quiz", {"answers": [0]}, token)
    assert response.status_code == 409
    assert errors(response) == {"number": QUIZ_NOT_WRITTEN}


def test_my_courses_lists_progress(client: Client, course: Course, token: str) -> None:
    call(client, f"/api/courses/{course.id}/lessons/{first_lesson(course).id}/done", {}, token)
    call(client, f"/api/courses/{course.id}/weeks/1/quiz", {"answers": [0, 0, 1, 1]}, token)
    body = call(client, "/api/me/courses", token=token).json()
    assert len(body) == 1
    row = body[0]
    assert row["course_id"] == str(course.id)
    assert (row["lessons_done"], row["lessons_total"], row["percent"], row["week_reached"]) == (1, 4, 25, 1)
    assert (row["quizzes_taken"], row["quiz_percent"]) == (1, 50)
