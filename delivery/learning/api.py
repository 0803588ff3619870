"""The progress part of the JSON API, for signed-in learners (an API token): mark lessons done, take
quizzes, and list their courses with progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import ConfigDict

from accounts.api import TokenAuth, request_user
from accounts.models import User
from courses.models import PartStatus
from courses.selectors import course_lesson_for_reading, course_quiz_for_week
from courses.visibility import course_shown_title, course_visible_via_api
from delivery.learning.progress import (
    ProgressError,
    lesson_mark_done,
    lesson_mark_undone,
    quiz_attempt_record,
)
from delivery.learning.selectors import learner_courses
from delivery.models import Source
from school.apitools import ApiError, ErrorOut

LESSON_NOT_FOUND = "This course has no lesson with this id."
QUIZ_NOT_FOUND = "This course has no quiz for this week."
QUIZ_NOT_WRITTEN = "This week's quiz has not been written yet."
ANSWERS_COUNT = "Give exactly one answer (an option's index, from 0) per question: {count} answers."

router = Router(tags=["progress"], auth=TokenAuth())


class LessonDoneIn(Schema):
    model_config = ConfigDict(extra="forbid")
    done: bool = True


class LessonDoneOut(Schema):
    lesson_id: int
    done: bool


class QuizAnswersIn(Schema):
    model_config = ConfigDict(extra="forbid")
    answers: list[int]  # the chosen option (from 0) of each question, in order


class QuestionResultOut(Schema):
    number: int
    chosen: int | None
    correct: int
    is_correct: bool
    explanation: str


class QuizResultOut(Schema):
    attempt_id: int
    score: int
    total: int
    results: list[QuestionResultOut]


class LearnerCourseOut(Schema):
    course_id: UUID
    title: str
    lessons_done: int
    lessons_total: int
    percent: int
    week_reached: int
    quizzes_taken: int
    quiz_percent: int | None
    last_activity_at: datetime
    completed_at: datetime | None


def _learner(request: HttpRequest) -> User:
    user = request_user(request)
    assert user is not None  # the router's TokenAuth let the request in
    return user


@router.post(
    "/courses/{course_id}/lessons/{lesson_id}/done",
    response={200: LessonDoneOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Mark a lesson done (or not done)",
)
def lesson_done(
    request: HttpRequest, course_id: UUID, lesson_id: int, payload: LessonDoneIn
) -> dict[str, Any]:
    course = course_visible_via_api(request, course_id)
    lesson = course_lesson_for_reading(course_id=course.id, lesson_id=lesson_id)
    if lesson is None:
        raise ApiError(404, LESSON_NOT_FOUND, field="lesson_id")
    if payload.done:
        lesson_mark_done(user=_learner(request), lesson=lesson, source=Source.API)
    else:
        lesson_mark_undone(user=_learner(request), lesson=lesson)
    return {"lesson_id": lesson.id, "done": payload.done}


@router.post(
    "/courses/{course_id}/weeks/{number}/quiz",
    response={200: QuizResultOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Answer a week's quiz",
)
def quiz_attempt(
    request: HttpRequest, course_id: UUID, number: int, payload: QuizAnswersIn
) -> dict[str, Any]:
    """Grades the answers, keeps the attempt, and returns the right answers with their explanations."""
    course = course_visible_via_api(request, course_id)
    quiz = course_quiz_for_week(course_id=course.id, week_number=number)
    if quiz is None:
        raise ApiError(404, QUIZ_NOT_FOUND, field="number")
    if quiz.status != PartStatus.WRITTEN:
        raise ApiError(409, QUIZ_NOT_WRITTEN, field="number")
    if len(payload.answers) != len(quiz.questions):
        raise ApiError(422, ANSWERS_COUNT.format(count=len(quiz.questions)), field="answers")
    try:
        attempt, results = quiz_attempt_record(
            user=_learner(request), quiz=quiz, answers=dict(enumerate(payload.answers)), source=Source.API
        )
    except ProgressError as error:
        raise ApiError(422, str(error), field="answers") from None
    return {
        "attempt_id": attempt.id,
        "score": attempt.score,
        "total": attempt.total,
        "results": [{**result.__dict__, "is_correct": result.is_correct} for result in results],
    }


@router.get("/me/courses", response={200: list[LearnerCourseOut], 401: ErrorOut}, summary="My courses")
def my_courses(request: HttpRequest) -> list[dict[str, Any]]:
    """The learner's courses, most recently studied first, with their progress."""
    return [
        {
            "course_id": row.course.id,
            "title": course_shown_title(row.course),
            "lessons_done": row.lessons_done,
            "lessons_total": row.lessons_total,
            "percent": row.percent,
            "week_reached": row.week_reached,
            "quizzes_taken": row.quizzes_taken,
            "quiz_percent": row.quiz_percent,
            "last_activity_at": row.enrollment.last_activity_at,
            "completed_at": row.enrollment.completed_at,
        }
        for row in learner_courses(user=_learner(request))
    ]
