"""Every course ends: ready, or incomplete once its failed parts have used all their attempts, never stuck
"being written". The fake LLM here answers every quiz with options all the same, as a local server did."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services import api_token_create
from courses import selectors, tasks
from courses.api import NOTHING_TO_RETRY, RETRY_NOT_ALLOWED
from courses.generation import pipeline
from courses.generation.request import course_request
from courses.models import Course, Lesson, LLMCall, PartStatus, Quiz
from tests.factories import UserFactory, written_course
from tests.fakes.openai_server import FakeOpenAI

JSON = "application/json"  # the API refuses bodies not declared JSON (415), even empty multipart ones
pytestmark = pytest.mark.django_db(transaction=True)


def same_options_quizzes(body: dict[str, Any]) -> Any:
    """Every quiz with four identical options (fails validation); anything else answered as usual."""
    if body["response_format"]["json_schema"]["name"] != "quiz":
        return None
    question = {
        "question": "Which?",
        "options": ["Rome"] * 4,
        "correct_index": 0,
        "explanation": "Because.",
        "lesson": 1,
        "passage": "Rome built eleven aqueducts over five centuries.",
    }
    return {"questions": [question] * 4}


@pytest.fixture
def broken_quizzes(fake_openai: FakeOpenAI, settings: Any) -> FakeOpenAI:
    settings.LLM_MAX_RETRIES = 0
    settings.GENERATION_PART_MAX_ATTEMPTS = 2
    fake_openai.override(same_options_quizzes)
    return fake_openai


def go_silent(course: Course) -> None:
    silent = timezone.now() - timedelta(seconds=django_settings.GENERATION_STALE_AFTER_SECONDS + 1)
    Course.objects.filter(id=course.id).update(heartbeat_at=silent)


def requested(user: Any = None) -> Course:
    course = course_request(topic="Roman aqueducts", language="en", weeks=4, user=user, ip=None).course
    return Course.objects.get(id=course.id)


def test_a_course_whose_quizzes_fail_every_attempt_ends_incomplete(broken_quizzes: FakeOpenAI) -> None:
    course = requested()
    assert course.status == Course.Status.WRITING  # first attempt failed; the sweeper tries again later
    assert set(Quiz.objects.filter(course=course).values_list("attempts", flat=True)) == {1}

    go_silent(course)
    tasks.sweep_stale_courses()

    course.refresh_from_db()
    assert course.status == Course.Status.INCOMPLETE
    assert course.status_reason == pipeline.COURSE_INCOMPLETE
    progress = selectors.course_progress(course=course)
    assert progress.is_finished
    assert [(part.kind, part.week) for part in progress.failed_parts] == [("quiz", n) for n in range(1, 5)]
    assert {part.reason for part in progress.failed_parts} == {pipeline.PART_INVALID}
    assert progress.parts_written == course.lessons.count()
    assert not selectors.course_is_emailable(course)  # never emailed with a missing quiz


def test_an_incomplete_course_stays_put_however_often_the_sweeper_runs(broken_quizzes: FakeOpenAI) -> None:
    course = requested()
    go_silent(course)
    tasks.sweep_stale_courses()
    calls = len(broken_quizzes.calls())

    go_silent(course)
    assert tasks.sweep_stale_courses() == {"outlines_queued": 0, "parts_queued": 0, "courses_finished": 0}

    assert len(broken_quizzes.calls()) == calls
    assert Course.objects.get(id=course.id).status == Course.Status.INCOMPLETE


def test_the_sweeper_ends_a_writing_course_whose_parts_are_all_done_or_exhausted(settings: Any) -> None:
    """The bug: every part had used its attempts, and nothing moved the course on from "writing"."""
    course = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None)
    Quiz.objects.filter(course=course, week__number=3).update(
        status=PartStatus.FAILED, attempts=settings.GENERATION_PART_MAX_ATTEMPTS, failure_reason="broken"
    )
    go_silent(course)

    assert tasks.sweep_stale_courses()["courses_finished"] == 1

    course.refresh_from_db()
    assert (course.status, course.ready_at) == (Course.Status.INCOMPLETE, None)


def test_a_quiz_waiting_on_a_lesson_that_failed_for_good_does_not_keep_the_course_writing(
    settings: Any,
) -> None:
    """A week's quiz is written from its lessons: one lost for good leaves the quiz pending, and the course
    must end all the same (its retry writes the lesson, which then queues the quiz)."""
    course = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None)
    Lesson.objects.filter(course=course, week__number=2, number=1).update(
        status=PartStatus.FAILED, attempts=settings.GENERATION_PART_MAX_ATTEMPTS, failure_reason="broken"
    )
    Quiz.objects.filter(course=course, week__number=2).update(status=PartStatus.PENDING, questions=[])

    assert pipeline.course_finish(course_id=course.id) is True

    assert Course.objects.get(id=course.id).status == Course.Status.INCOMPLETE


def test_a_failed_part_with_attempts_left_keeps_the_course_writing(settings: Any) -> None:
    course = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None)
    Quiz.objects.filter(course=course, week__number=3).update(status=PartStatus.FAILED, attempts=1)

    assert pipeline.course_finish(course_id=course.id) is False

    assert Course.objects.get(id=course.id).status == Course.Status.WRITING


def test_retrying_an_incomplete_course_writes_its_missing_parts_and_makes_it_ready(
    broken_quizzes: FakeOpenAI,
) -> None:
    course = requested()
    go_silent(course)
    tasks.sweep_stale_courses()
    broken_quizzes.override(None)  # the model behaves again

    assert pipeline.course_retry(course_id=course.id) is True

    course.refresh_from_db()
    assert (course.status, course.status_reason) == (Course.Status.READY, "")
    assert not Quiz.objects.filter(course=course).exclude(status=PartStatus.WRITTEN).exists()


def test_a_retry_that_fails_again_ends_incomplete_again(broken_quizzes: FakeOpenAI) -> None:
    course = requested()
    go_silent(course)
    tasks.sweep_stale_courses()

    pipeline.part_retry(course_id=course.id, kind="quiz", part_id=course.quizzes.first().id)  # type: ignore[union-attr]

    assert Course.objects.get(id=course.id).status == Course.Status.INCOMPLETE


def test_the_api_retries_an_incomplete_course_for_its_requester_only(
    broken_quizzes: FakeOpenAI, client: Client
) -> None:
    learner, stranger = UserFactory(), UserFactory()
    _, token = api_token_create(user=learner, name="cli")
    _, other_token = api_token_create(user=stranger, name="cli")
    course = requested(user=learner)
    go_silent(course)
    tasks.sweep_stale_courses()
    broken_quizzes.override(None)
    url = f"/api/courses/{course.id}/retry"

    refused = client.post(url, content_type=JSON, HTTP_AUTHORIZATION=f"Bearer {other_token}")
    anonymous = client.post(url, content_type=JSON)
    retried = client.post(url, content_type=JSON, HTTP_AUTHORIZATION=f"Bearer {token}")
    again = client.post(url, content_type=JSON, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert (refused.status_code, refused.json()["detail"]) == (403, RETRY_NOT_ALLOWED)
    assert anonymous.status_code == 403
    assert retried.status_code == 202
    assert Course.objects.get(id=course.id).status == Course.Status.READY
    assert (again.status_code, again.json()["detail"]) == (409, NOTHING_TO_RETRY)
    detail = client.get(f"/api/courses/{course.id}").json()
    assert detail["status"] == "ready"


def test_the_progress_page_lists_each_missing_part_and_one_retry_button(
    broken_quizzes: FakeOpenAI, client: Client
) -> None:
    learner = UserFactory()
    course = requested(user=learner)
    go_silent(course)
    tasks.sweep_stale_courses()
    client.force_login(learner)

    html = client.get(reverse("courses:writing", args=[course.id])).content.decode()

    assert 'data-state="incomplete"' in html
    assert "Some parts of this course could not be written." in html
    assert "<strong>Week 1: Week 1 quiz</strong>" in html
    assert "<strong>Week 4: Week 4 quiz</strong>" in html
    assert "Try the missing parts again" in html
    assert f'href="{course.get_absolute_url()}">Read what was written' in html


def test_what_was_written_of_an_incomplete_course_can_be_read(
    broken_quizzes: FakeOpenAI, client: Client
) -> None:
    course = requested()
    go_silent(course)
    tasks.sweep_stale_courses()
    lesson = course.lessons.first()
    assert lesson is not None

    page = client.get(course.get_absolute_url())
    lesson_page = client.get(reverse("delivery:lesson", args=[course.id, lesson.id]))

    assert page.status_code == 200
    assert "Get it by email" not in page.content.decode()  # never offered for email with a missing week
    assert lesson_page.status_code == 200


def test_generate_course_wait_exits_non_zero_listing_the_failed_parts(
    broken_quizzes: FakeOpenAI, celery_worker: Any, settings: Any
) -> None:
    settings.GENERATION_PART_MAX_ATTEMPTS = 1
    out = StringIO()

    with pytest.raises(CommandError) as failure:
        call_command(
            "generate_course", "Roman aqueducts", "--weeks", "4", "--wait", "--poll", "0.05", stdout=out
        )

    message, course = str(failure.value), Course.objects.get()
    total = course.lessons.count() + course.quizzes.count()
    assert message.startswith(f"incomplete: 4 of {total} parts failed every attempt")
    assert "week 2, quiz 'Week 2 quiz': " + pipeline.PART_INVALID in message
    assert course.status == Course.Status.INCOMPLETE
    assert LLMCall.objects.filter(stage="quiz", outcome=LLMCall.Outcome.INVALID_OUTPUT).count() == 4


def test_a_course_whose_last_part_is_stored_between_the_finish_checks_is_not_incomplete() -> None:
    """bench_chaos found fault-free courses ended incomplete with every part written: one worker's "ready?"
    check saw another's last part still being written, that worker stored it, then the first worker's
    "incomplete?" check found nothing left to change and ended the course incomplete."""
    course = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None)
    last = Quiz.objects.filter(course=course, week__number=4).get()
    Quiz.objects.filter(id=last.id).update(status=PartStatus.WRITING)

    def other_worker_stores_the_last_part(
        execute: Any, sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        result = execute(sql, params, many, context)
        if "ready_at" in sql:  # right after the "ready?" statement, before the "incomplete?" one
            Quiz.objects.filter(id=last.id).update(status=PartStatus.WRITTEN)
        return result

    with connection.execute_wrapper(other_worker_stores_the_last_part):
        pipeline.course_finish(course_id=course.id)
    pipeline.course_finish(course_id=course.id)  # the other worker's own check, after its store

    assert Course.objects.get(id=course.id).status == Course.Status.READY
