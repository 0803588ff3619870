"""`sweep_stale_courses`: what a dead worker or a lost message left behind is written after all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from courses import tasks
from courses.generation.request import course_request
from courses.models import Course, Lesson, PartStatus, Quiz
from school.celery import app
from tests.factories import CourseFactory, written_course
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


def long_ago() -> Any:
    return timezone.now() - timedelta(seconds=settings.GENERATION_STALE_AFTER_SECONDS + 1)


def outlined_course() -> Course:
    """A course whose outline is stored and whose part messages were lost (no worker ever saw them)."""
    app.conf.task_always_eager = False
    try:
        course = course_request(topic="Roman aqueducts", language="en", weeks=4, user=None, ip=None).course
        tasks.llm_write_outline(str(course.id))
    finally:
        app.conf.task_always_eager = True
    return Course.objects.get(id=course.id)


@pytest.mark.parametrize("status", [Course.Status.QUEUED, Course.Status.OUTLINING])
@pytest.mark.parametrize("ever_heard_from", [True, False])
def test_it_restarts_a_course_stuck_before_its_outline(
    fake_openai: FakeOpenAI, status: str, ever_heard_from: bool
) -> None:
    course = CourseFactory(topic="Roman aqueducts", weeks_count=4, status=status)
    heartbeat = long_ago() if ever_heard_from else None
    Course.objects.filter(id=course.id).update(heartbeat_at=heartbeat, created_at=long_ago())

    result = tasks.sweep_stale_courses()

    assert result["outlines_queued"] == 1
    course.refresh_from_db()
    assert course.status == Course.Status.READY


def test_it_writes_the_pending_parts_of_a_silent_course(fake_openai: FakeOpenAI) -> None:
    course = outlined_course()
    assert course.status == Course.Status.WRITING
    Course.objects.filter(id=course.id).update(heartbeat_at=long_ago())

    result = tasks.sweep_stale_courses()

    assert result["parts_queued"] == course.lessons.count() + course.quizzes.count()
    course.refresh_from_db()
    assert course.status == Course.Status.READY


def test_it_leaves_courses_that_are_making_progress_alone(fake_openai: FakeOpenAI) -> None:
    course = outlined_course()
    calls_before = len(fake_openai.calls())
    CourseFactory(status=Course.Status.QUEUED, heartbeat_at=timezone.now())

    result = tasks.sweep_stale_courses()

    assert result == {"outlines_queued": 0, "parts_queued": 0, "courses_finished": 0}
    assert len(fake_openai.calls()) == calls_before
    assert Course.objects.get(id=course.id).status == Course.Status.WRITING


def test_it_rewrites_a_part_whose_worker_died_even_while_the_course_shows_life(
    fake_openai: FakeOpenAI,
) -> None:
    course = outlined_course()
    expired = timezone.now() - timedelta(seconds=settings.GENERATION_PART_LEASE_SECONDS + 1)
    # Quizzes are written from their lessons' text (each question quotes one).
    body = "## Water\n\nAqueducts carried water into Roman cities over many miles of gentle slope."
    Lesson.objects.filter(course=course).update(status=PartStatus.WRITTEN, body=body)
    Quiz.objects.filter(course=course).update(status=PartStatus.WRITTEN)
    quiz = Quiz.objects.filter(course=course).first()
    assert quiz is not None
    Quiz.objects.filter(id=quiz.id).update(status=PartStatus.WRITING, claimed_at=expired, attempts=1)

    result = tasks.sweep_stale_courses()

    assert result["parts_queued"] == 1
    quiz.refresh_from_db()
    assert (quiz.status, quiz.attempts) == (PartStatus.WRITTEN, 2)
    assert Course.objects.get(id=course.id).status == Course.Status.READY


def test_it_retries_failed_parts_of_a_silent_course_until_their_attempts_run_out(
    fake_openai: FakeOpenAI,
) -> None:
    course = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None, heartbeat_at=long_ago())
    lessons = list(Lesson.objects.filter(course=course)[:2])
    max_attempts = settings.GENERATION_PART_MAX_ATTEMPTS
    Lesson.objects.filter(id=lessons[0].id).update(status=PartStatus.FAILED, attempts=max_attempts - 1)
    Lesson.objects.filter(id=lessons[1].id).update(status=PartStatus.FAILED, attempts=max_attempts)

    result = tasks.sweep_stale_courses()

    assert result["parts_queued"] == 1
    assert Lesson.objects.get(id=lessons[0].id).status == PartStatus.WRITTEN
    assert Lesson.objects.get(id=lessons[1].id).status == PartStatus.FAILED  # waits for a person's "retry"
    # Nothing is left to try: the course ends, incomplete, instead of staying "writing" forever.
    assert Course.objects.get(id=course.id).status == Course.Status.INCOMPLETE


def test_it_finishes_a_course_whose_last_writer_died_before_finishing() -> None:
    course = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None, heartbeat_at=long_ago())

    result = tasks.sweep_stale_courses()

    assert result["courses_finished"] == 1
    assert Course.objects.get(id=course.id).status == Course.Status.READY


def test_it_is_scheduled_every_minute_on_the_default_queue() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-stale-courses"]

    assert entry["task"] == tasks.sweep_stale_courses.name == "courses.tasks.sweep_stale_courses"
    assert app.amqp.router.route({}, tasks.sweep_stale_courses.name)["queue"].name == "default"
    assert app.amqp.router.route({}, tasks.llm_write_lesson.name)["queue"].name == "llm"
