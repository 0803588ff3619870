"""Regenerating a lesson, a quiz or a week through the pipeline's prompts, against the fake OpenAI server."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from courses.models import AuditEntry, Course, Lesson, LLMCall, PartRevision, PartStatus, Quiz
from courses.moderation import regeneration, review
from courses.quality import passages
from delivery.models import LessonCompletion, QuizAttempt
from tests.factories import UserFactory, moderator, written_course
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db

Run = Callable[..., Any]


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Run:
    """Request a regeneration and run what it queued (Celery is eager in tests), as a commit would."""

    def request(**kwargs: Any) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return regeneration.part_regenerate_request(**kwargs)

    return request


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def course_with_progress() -> tuple[Course, Lesson, Any]:
    course = written_course(weeks=2, lessons_per_week=2)
    lesson = Lesson.objects.get(course=course, week__number=1, number=1)
    learner = UserFactory()
    LessonCompletion.objects.create(user=learner, lesson=lesson, course=course)
    return course, lesson, learner


def test_regenerating_a_lesson_rewrites_it_in_place_and_keeps_the_old_version(
    fake_openai: FakeOpenAI, run: Run
) -> None:
    course, lesson, learner = course_with_progress()
    old_body, actor = lesson.body, moderator()

    assert run(part=lesson, actor=actor, instruction="Make it simpler, with an example about Rome") == 1

    lesson.refresh_from_db()
    assert lesson.body != old_body
    assert len(lesson.body.split()) >= 150
    assert "<h2 id=" in lesson.body_html
    assert LessonCompletion.objects.filter(user=learner, lesson_id=lesson.pk).exists()  # same row, same id
    revision = PartRevision.objects.get(lesson=lesson)
    assert revision.content["body"] == old_body
    assert (revision.cause, revision.author) == (PartRevision.Cause.REGENERATE, actor)
    assert revision.instruction == "Make it simpler, with an example about Rome"
    entry = course.audit_entries.get()
    assert (entry.action, entry.actor, entry.revision) == (AuditEntry.Action.REGENERATE, actor, revision)
    sent = fake_openai.calls()[0]["json"]["messages"]
    assert "Make it simpler, with an example about Rome" in sent[-1]["content"]
    assert old_body.strip().splitlines()[0] in sent[-1]["content"]  # the current version is quoted
    course.refresh_from_db()
    assert course.content_version == 2


def test_regenerating_a_quiz_keeps_earlier_attempts_and_the_old_questions(
    fake_openai: FakeOpenAI, run: Run
) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    quiz = Quiz.objects.get(course=course)
    old_questions = quiz.questions
    attempt = QuizAttempt.objects.create(
        user=UserFactory(), quiz=quiz, course=course, answers={"0": 0}, score=1, total=4
    )

    run(part=quiz, actor=moderator())

    quiz.refresh_from_db()
    assert quiz.questions != old_questions
    assert all(0 <= item["answer"] < len(item["options"]) for item in quiz.questions)
    assert QuizAttempt.objects.get(pk=attempt.pk).quiz_id == quiz.pk
    assert PartRevision.objects.get(quiz=quiz).content == {"questions": old_questions}


def test_regenerating_a_week_plans_it_again_then_rewrites_each_lesson_and_its_quiz_from_the_new_plan(
    fake_openai: FakeOpenAI, run: Run
) -> None:
    course = written_course(weeks=2, lessons_per_week=3)
    week = course.weeks.get(number=2)
    lessons = list(week.lessons.order_by("number"))
    completion = LessonCompletion.objects.create(user=UserFactory(), lesson=lessons[0], course=course)
    old_title, old_overview, old_lesson_titles = (
        week.title,
        week.overview,
        [lesson.title for lesson in lessons],
    )

    assert (
        run(part=week, actor=moderator(), instruction="More practical") == 5
    )  # the plan, 3 lessons, the quiz

    week.refresh_from_db()
    assert (week.title, week.overview) != (old_title, old_overview)
    assert week.overview_html.startswith("<p>")
    assert 3 <= len(week.objectives) <= 5
    assert week.reading_list
    assert PartRevision.objects.get(week=week).content["title"] == old_title
    new_lessons = list(week.lessons.order_by("number"))
    assert [lesson.pk for lesson in new_lessons] == [lesson.pk for lesson in lessons]  # the same rows
    assert all(lesson.title not in old_lesson_titles for lesson in new_lessons)
    assert LessonCompletion.objects.filter(pk=completion.pk, lesson_id=lessons[0].pk).exists()
    # Each lesson: its plan (title and summary), then its text, each kept as a revision.
    assert PartRevision.objects.filter(lesson__week=week).count() == 6
    assert PartRevision.objects.filter(quiz__week=week).count() == 1
    assert not PartRevision.objects.filter(lesson__week__number=1).exists()
    stages = [call["json"]["response_format"]["json_schema"]["name"] for call in fake_openai.calls()]
    assert stages == ["week_plan", "lesson", "lesson", "lesson", "quiz"]
    # The parts were asked for from the outline as it reads after the new plan.
    lesson_prompt = fake_openai.calls()[1]["json"]["messages"]
    assert week.title in lesson_prompt[1]["content"]
    assert new_lessons[0].title in lesson_prompt[-2]["content"] + lesson_prompt[-1]["content"]
    assert "More practical" in fake_openai.calls()[0]["json"]["messages"][-1]["content"]
    assert (
        old_title in fake_openai.calls()[0]["json"]["messages"][-1]["content"]
    )  # the current plan is quoted


def test_regenerating_a_week_offline_gives_it_another_plan(run: Run, offline: None) -> None:
    course = written_course(weeks=2, lessons_per_week=3)
    week = course.weeks.get(number=1)
    old_title = week.title

    run(part=week, actor=moderator())

    week.refresh_from_db()
    assert week.title != old_title
    lessons = list(week.lessons.order_by("number"))
    assert all(lesson.title.startswith(week.title) for lesson in lessons)
    assert all(f"*{lesson.title}*" in lesson.body for lesson in lessons)  # written from the new plan
    assert all(lesson.status == PartStatus.WRITTEN for lesson in lessons)


def test_when_a_weeks_plan_cannot_be_written_nothing_of_the_week_changes(
    fake_openai: FakeOpenAI, run: Run, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 1
    fake_openai.fail_next("500", times=2)
    course = written_course(weeks=1, lessons_per_week=3)
    week = course.weeks.get()

    run(part=week, actor=moderator())

    assert not PartRevision.objects.exists()
    assert len(fake_openai.calls()) == 2  # the plan's two attempts, and no lesson or quiz after them
    entry = course.audit_entries.get()
    assert entry.action == AuditEntry.Action.REGENERATE_FAILED


def test_a_weeks_new_plan_that_screening_flags_holds_the_course(fake_openai: FakeOpenAI, run: Run) -> None:
    course = written_course(weeks=1, lessons_per_week=3)
    week = course.weeks.get()
    fake_openai.flag_words = frozenset({"e"})  # every text the fake's moderation sees is flagged

    run(part=week, actor=moderator())

    course.refresh_from_db()
    assert course.held_for_review
    assert course.flags.filter(week=week).exists()  # the plan's own screening, before any part was written


def test_regenerating_a_failed_lesson_writes_it_and_finishes_the_course(
    fake_openai: FakeOpenAI, run: Run
) -> None:
    course = written_course(weeks=1, lessons_per_week=2, status=Course.Status.WRITING)
    lesson = Lesson.objects.filter(course=course).first()
    assert lesson is not None
    Lesson.objects.filter(pk=lesson.pk).update(
        status=PartStatus.FAILED, body="", failure_reason="Kept failing"
    )
    lesson.refresh_from_db()

    run(part=lesson, actor=moderator())

    lesson.refresh_from_db()
    assert lesson.status == PartStatus.WRITTEN
    assert lesson.body
    assert Course.objects.get(pk=course.pk).status == Course.Status.READY


def test_when_the_llm_keeps_failing_the_part_is_unchanged_and_the_failure_is_audited(
    fake_openai: FakeOpenAI, run: Run, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 1
    fake_openai.fail_next("500", times=2)
    course, lesson, _ = course_with_progress()
    old_body = lesson.body

    run(part=lesson, actor=moderator())

    lesson.refresh_from_db()
    assert lesson.body == old_body
    assert not PartRevision.objects.exists()
    entry = course.audit_entries.get()
    assert entry.action == AuditEntry.Action.REGENERATE_FAILED
    assert "unchanged" in entry.reason


def test_regenerated_text_that_screening_flags_holds_the_course(fake_openai: FakeOpenAI, run: Run) -> None:
    course, lesson, _ = course_with_progress()
    fake_openai.flag_words = frozenset({"lesson"})  # whatever the fake writes about a lesson is now flagged

    run(part=lesson, actor=moderator())

    course.refresh_from_db()
    assert course.held_for_review
    assert course.flags.get().lesson_id == lesson.pk


def test_a_requester_regenerates_their_private_course_within_a_daily_allowance(
    fake_openai: FakeOpenAI, run: Run, settings: Any
) -> None:
    settings.REGENERATIONS_PER_USER_PER_DAY = 2
    requester = UserFactory()
    course = written_course(weeks=1, lessons_per_week=3, requested_by=requester)
    lessons = list(Lesson.objects.filter(course=course))

    run(part=lessons[0], actor=requester)
    run(part=lessons[1], actor=requester)
    with pytest.raises(review.ModerationError, match=regeneration.QUOTA_MESSAGE):
        run(part=lessons[2], actor=requester)

    assert PartRevision.objects.filter(author=requester).count() == 2
    assert len(fake_openai.calls()) == 2


def test_nobody_else_regenerates_a_course_and_a_requester_not_once_it_is_published(
    run: Run, offline: None
) -> None:
    requester = UserFactory()
    course = written_course(weeks=1, lessons_per_week=1, requested_by=requester)
    lesson = Lesson.objects.get(course=course)

    with pytest.raises(review.ModerationError, match=re.escape(regeneration.NOT_ALLOWED_MESSAGE)):
        run(part=lesson, actor=UserFactory())
    Course.objects.filter(pk=course.pk).update(review_state=Course.Review.APPROVED)
    lesson.refresh_from_db()
    with pytest.raises(review.ModerationError, match=re.escape(regeneration.NOT_ALLOWED_MESSAGE)):
        run(part=lesson, actor=requester)
    assert not PartRevision.objects.exists()


def test_a_part_still_being_written_cannot_be_regenerated(run: Run, offline: None) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    Lesson.objects.filter(course=course).update(status=PartStatus.WRITING)

    with pytest.raises(review.ModerationError, match=regeneration.NOT_WRITTEN_MESSAGE):
        run(part=Lesson.objects.get(course=course), actor=moderator())


def test_the_spend_cap_stops_regeneration_too(fake_openai: FakeOpenAI, run: Run, settings: Any) -> None:
    settings.LLM_DAILY_SPEND_CAP_USD = 0.5
    LLMCall.objects.create(stage="lesson", model="gpt-4o-mini", completion_tokens=1_000_000, outcome="ok")
    _, lesson, _ = course_with_progress()

    with pytest.raises(review.ModerationError, match="today's budget"):
        run(part=lesson, actor=moderator())
    assert fake_openai.requests == []


def test_a_redelivered_regeneration_task_runs_once(fake_openai: FakeOpenAI) -> None:
    _, lesson, _ = course_with_progress()
    actor = moderator()
    for _ in range(2):
        regeneration.part_regenerate(
            kind="lesson", part_id=lesson.pk, actor_id=actor.pk, instruction="", request_id="same-click"
        )

    assert PartRevision.objects.count() == 1
    assert len(fake_openai.calls()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_regenerated_weeks_quiz_is_written_after_its_new_lessons_and_from_their_text(
    fake_openai: FakeOpenAI, celery_worker: Any, settings: Any
) -> None:
    fake_openai.latency = 0.3  # lessons take a while: a quiz queued beside them would be asked for first
    fake_openai.moderation_latency = 0.0
    settings.LLM_TIMEOUT_SECONDS = 5.0
    course = written_course(weeks=1, lessons_per_week=3)
    week = course.weeks.get()
    old_bodies = list(Lesson.objects.filter(week=week).order_by("number").values_list("body", flat=True))

    regeneration.part_regenerate_request(part=week, actor=moderator(), instruction="More practical")
    wait_for(lambda: PartRevision.objects.filter(quiz__week=week).exists(), timeout=30)

    calls = {stage: [] for stage in ("week_plan", "lesson", "quiz")}
    for call in fake_openai.calls():
        calls[call["json"]["response_format"]["json_schema"]["name"]].append(call)
    assert [len(found) for found in calls.values()] == [1, 3, 1]
    lessons_done = max(call["timestamp"] + call["duration"] for call in calls["lesson"])
    assert calls["quiz"][0]["timestamp"] >= lessons_done  # the quiz waited for every new lesson
    new_bodies = list(Lesson.objects.filter(week=week).order_by("number").values_list("body", flat=True))
    sent = "\n".join(message["content"] for message in calls["quiz"][0]["json"]["messages"])
    for old, new in zip(old_bodies, new_bodies, strict=True):
        assert new.strip().splitlines()[0] in sent
        assert old.strip().splitlines()[0] not in sent
    assert "<<<CURRENT" not in sent  # the old quiz, about the old lessons, is not quoted
    assert "More practical" in sent
    quiz = Quiz.objects.get(week=week)
    for question in quiz.questions:
        assert passages.passage_found(question["passage"], new_bodies[question["lesson"] - 1])
