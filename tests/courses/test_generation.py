"""The generation pipeline (outline, then every lesson and quiz), with tasks run in-process, against the fake LLM."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connections
from django.utils import timezone
from redis.client import Pipeline

from courses import selectors, tasks
from courses.generation import llm, pipeline, prompts
from courses.generation.request import course_request
from courses.models import Course, Lesson, LLMCall, PartStatus, Quiz, Week
from tests.factories import written_course
from tests.fakes.openai_server import FakeOpenAI, reply_for

pytestmark = pytest.mark.django_db(transaction=True)  # the pipeline enqueues on commit, as in production


def request_course(weeks: int = 4, language: str = "en", topic: str = "Roman aqueducts") -> Course:
    result = course_request(topic=topic, language=language, weeks=weeks, user=None, ip="203.0.113.9")
    return Course.objects.get(id=result.course.id)


def at_once(work: Callable[[], None], *, threads: int) -> None:
    """Run `work` in `threads` threads at the same time; each closes its database connection when done."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    racers = [threading.Thread(target=run) for _ in range(threads)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()


def parts_count(course: Course) -> int:
    return course.lessons.count() + course.quizzes.count()


def test_a_course_is_written_from_topic_to_ready(fake_openai: FakeOpenAI) -> None:
    course = request_course(weeks=4)

    assert course.status == Course.Status.READY
    assert course.ready_at is not None
    assert course.title
    assert course.description
    assert course.audience
    assert course.generator == "fake-model"
    weeks = list(course.weeks.order_by("number"))
    assert [week.number for week in weeks] == [1, 2, 3, 4]
    for week in weeks:
        assert week.overview_html.startswith("<p>")
        assert 3 <= len(week.objectives) <= 5
        assert 1 <= len(week.reading_list) <= 3
        assert 3 <= week.lessons.count() <= 4
    lessons = list(course.lessons.all())
    assert all(lesson.status == PartStatus.WRITTEN and lesson.written_at for lesson in lessons)
    assert all(len(lesson.body.split()) >= 600 and "<h2 id=" in lesson.body_html for lesson in lessons)
    quizzes = list(course.quizzes.all())
    assert len(quizzes) == 4
    for quiz in quizzes:
        assert 4 <= len(quiz.questions) <= 6
        assert all(0 <= question["answer"] < len(question["options"]) for question in quiz.questions)
    assert LLMCall.objects.filter(course=course, outcome="ok").exclude(
        stage="moderation"
    ).count() == 1 + parts_count(course)
    assert len(fake_openai.calls()) == 1 + parts_count(course)
    # The prefix every part quoted is the plan the rows hold.
    assert course.outline_json == prompts.outline_json(selectors.course_outline(course=course))
    assert course.outline_json in fake_openai.calls()[-1]["json"]["messages"][1]["content"]


def test_a_weeks_readings_come_with_its_quiz_written_after_its_lessons(fake_openai: FakeOpenAI) -> None:
    def quiz_with_readings(body: dict[str, Any]) -> Any:
        task = body["messages"][-1]["content"]
        if body["response_format"]["json_schema"]["name"] != "quiz":
            return None
        week = task.split("quiz for week ")[1].split()[0]
        reading = {
            "title": f"A book for week {week}",
            "author": "A. Author",
            "url": "",
            "note": "Goes further.",
        }
        return {**reply_for(body), "reading_list": [reading]}

    fake_openai.override(quiz_with_readings)
    course = request_course(weeks=4)

    assert course.status == Course.Status.READY
    outline_call, *part_calls = fake_openai.calls()
    assert "reading_list" not in json.dumps(outline_call["json"]["response_format"])
    assert all("reading_list" not in week for week in course.outline_draft["weeks"])
    quiz_calls = [
        call for call in part_calls if call["json"]["response_format"]["json_schema"]["name"] == "quiz"
    ]
    assert len(quiz_calls) == 4
    assert all("suggest 1 to 3 readings" in call["json"]["messages"][-1]["content"] for call in quiz_calls)
    for week in course.weeks.order_by("number"):
        assert [item["title"] for item in week.reading_list] == [f"A book for week {week.number}"]


def test_lessons_and_quizzes_reuse_the_cached_prompt_prefix(fake_openai: FakeOpenAI) -> None:
    course = request_course(weeks=4)

    part_calls = list(LLMCall.objects.filter(course=course, stage__in=["lesson", "quiz"]))
    cached = [call for call in part_calls if call.cached_tokens > 0]
    assert len(cached) >= len(part_calls) - 1  # every call after the first hits the shared prefix
    assert all(call.cached_tokens >= 256 for call in cached)
    outline_call = LLMCall.objects.get(course=course, stage="outline")
    assert outline_call.cached_tokens == 0


def test_every_call_of_a_course_asks_for_its_language(fake_openai: FakeOpenAI) -> None:
    request_course(weeks=4, language="de")

    systems = [call["json"]["messages"][0] for call in fake_openai.calls()]
    assert all(m["role"] == "system" and "in Deutsch" in m["content"] for m in systems)
    assert all("Roman aqueducts" not in m["content"] for m in systems)


def test_hostile_markdown_from_the_llm_is_neutralised(fake_openai: FakeOpenAI) -> None:
    fake_openai.hostile = True

    course = request_course(weeks=4)

    lessons = list(course.lessons.all())
    assert all("<script>" in lesson.body for lesson in lessons)  # the model really did send it
    for lesson in lessons:
        html = lesson.body_html.lower()
        for forbidden in ("<script", "onerror", "javascript:", "<iframe", "<img"):
            assert forbidden not in html


def test_a_part_that_keeps_failing_is_marked_failed_without_sinking_the_course(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 2
    fake_openai.fail_when("Write lesson 2 of week 3 ", "500", times=3)

    course = request_course(weeks=4)

    assert course.status == Course.Status.WRITING
    failed = Lesson.objects.get(course=course, week__number=3, number=2)
    assert (failed.status, failed.failure_reason) == (PartStatus.FAILED, pipeline.PART_FAILED)
    assert (
        Lesson.objects.filter(course=course, status=PartStatus.WRITTEN).count() == course.lessons.count() - 1
    )

    assert pipeline.part_retry(course_id=course.id, kind="lesson", part_id=failed.id) is True

    course.refresh_from_db()
    assert course.status == Course.Status.READY
    assert Lesson.objects.get(id=failed.id).status == PartStatus.WRITTEN
    assert pipeline.part_retry(course_id=course.id, kind="lesson", part_id=failed.id) is False


def test_retrying_the_failed_parts_of_a_course_writes_them_all(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 0
    fake_openai.fail_when("Write the quiz for week 2", "refusal", times=1)
    fake_openai.fail_when("Write lesson 1 of week 1 ", "timeout", times=1)

    course = request_course(weeks=4)

    assert course.status == Course.Status.WRITING
    assert Quiz.objects.get(course=course, week__number=2).failure_reason == pipeline.PART_REFUSED
    assert pipeline.course_retry_failed(course_id=course.id) == 2
    course.refresh_from_db()
    assert course.status == Course.Status.READY


def test_an_outline_that_keeps_failing_fails_the_course_until_retried(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 1
    fake_openai.fail_next("503", times=2)

    course = request_course(weeks=4)

    assert (course.status, course.status_reason) == (Course.Status.FAILED, pipeline.OUTLINE_FAILED)
    assert not Week.objects.filter(course=course).exists()

    assert pipeline.course_retry(course_id=course.id) is True

    course.refresh_from_db()
    assert (course.status, course.status_reason) == (Course.Status.READY, "")


def test_a_refused_outline_says_so(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 1
    fake_openai.fail_next("refusal", times=2)

    course = request_course(weeks=4)

    assert (course.status, course.status_reason) == (Course.Status.FAILED, pipeline.OUTLINE_REFUSED)


def test_every_fault_kind_along_the_way_still_ends_in_a_ready_course(fake_openai: FakeOpenAI) -> None:
    faults = {
        "Design a 4-week course": "429",
        "Write lesson 1 of week 1 ": "500",
        "Write lesson 2 of week 1 ": "503",
        "Write the quiz for week 1": "truncated",
        "Write lesson 1 of week 2 ": "invalid_schema",
        "Write lesson 2 of week 2 ": "refusal",
        "Write the quiz for week 2": "not_json",
        "Write lesson 1 of week 3 ": "disconnect",
        "Write lesson 3 of week 3 ": "timeout",
    }
    for where, kind in faults.items():
        fake_openai.fail_when(where, kind, times=1)

    course = request_course(weeks=4)

    assert course.status == Course.Status.READY
    assert len(fake_openai.calls()) == 1 + parts_count(course) + len(faults)
    failed_attempts = LLMCall.objects.filter(course=course).exclude(outcome="ok")
    assert sorted(failed_attempts.values_list("outcome", flat=True)) == sorted(
        [
            "rate_limited",
            "server_error",
            "server_error",
            "invalid_output",
            "invalid_output",
            "refusal",
            "invalid_output",
            "connection_error",
            "timeout",
        ]
    )


def test_tasks_run_twice_write_each_part_once(fake_openai: FakeOpenAI, queued_only: None) -> None:
    course = request_course(weeks=4)
    assert course.status == Course.Status.QUEUED

    tasks.llm_write_outline(str(course.id))
    tasks.llm_write_outline(str(course.id))  # redelivered
    for lesson in course.lessons.all():
        tasks.llm_write_lesson(lesson.id)
        tasks.llm_write_lesson(lesson.id)
    for quiz in course.quizzes.all():
        tasks.llm_write_quiz(quiz.id)
        tasks.llm_write_quiz(quiz.id)

    course.refresh_from_db()
    assert course.status == Course.Status.READY
    assert course.weeks.count() == 4
    assert len(fake_openai.calls()) == 1 + parts_count(course)
    assert LLMCall.objects.filter(course=course).exclude(stage="moderation").count() == 1 + parts_count(
        course
    )


def test_all_lessons_of_a_course_are_queued_in_one_round_trip_to_the_broker(
    fake_openai: FakeOpenAI, queued_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = request_course(weeks=4)
    pipelines: list[list[str]] = []
    lone_pushes: list[str] = []
    pipeline_execute, lpush = Pipeline.execute, redis.Redis.lpush

    def execute(pipeline: Pipeline, *args: Any, **kwargs: Any) -> Any:
        pipelines.append([command[0][0] for command in pipeline.command_stack])
        return pipeline_execute(pipeline, *args, **kwargs)

    def push(client: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(client, Pipeline):
            lone_pushes.append(args[0])
        return lpush(client, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", execute)
    monkeypatch.setattr(redis.Redis, "lpush", push)

    tasks.llm_write_outline(str(course.id))

    assert lone_pushes == []
    # The quizzes wait for their weeks' lessons.
    assert [commands for commands in pipelines if "LPUSH" in commands] == [["LPUSH"] * course.lessons.count()]


def test_two_workers_racing_for_one_lesson_make_one_call(fake_openai: FakeOpenAI, queued_only: None) -> None:
    course = request_course(weeks=4)
    tasks.llm_write_outline(str(course.id))
    lesson = course.lessons.first()
    assert lesson is not None
    fake_openai.latency = 0.3
    calls_before = len(fake_openai.calls())

    at_once(lambda: tasks.llm_write_lesson(lesson.id), threads=3)

    assert len(fake_openai.calls()) == calls_before + 1
    assert Lesson.objects.get(id=lesson.id).status == PartStatus.WRITTEN


def test_a_lesson_whose_claim_outlived_its_lease_is_written_again(
    fake_openai: FakeOpenAI, queued_only: None
) -> None:
    course = request_course(weeks=4)
    tasks.llm_write_outline(str(course.id))
    abandoned, busy = course.lessons.all()[:2]
    lease = timedelta(seconds=django_settings.GENERATION_PART_LEASE_SECONDS)
    Lesson.objects.filter(id=abandoned.id).update(
        status=PartStatus.WRITING, claimed_at=timezone.now() - lease - timedelta(seconds=1), attempts=1
    )
    Lesson.objects.filter(id=busy.id).update(status=PartStatus.WRITING, claimed_at=timezone.now(), attempts=1)
    calls_before = len(fake_openai.calls())

    tasks.llm_write_lesson(abandoned.id)
    tasks.llm_write_lesson(busy.id)  # its worker is alive and still within its lease: leave it alone

    assert len(fake_openai.calls()) == calls_before + 1
    assert Lesson.objects.get(id=abandoned.id).status == PartStatus.WRITTEN
    assert Lesson.objects.get(id=abandoned.id).attempts == 2
    assert Lesson.objects.get(id=busy.id).status == PartStatus.WRITING


def test_exactly_one_caller_finishes_a_course(fake_openai: FakeOpenAI) -> None:
    course = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None)
    results: list[bool] = []

    at_once(lambda: results.append(pipeline.course_finish(course_id=course.id)), threads=8)

    assert sorted(results) == [False] * 7 + [True]
    course.refresh_from_db()
    assert course.status == Course.Status.READY


def test_a_course_with_a_part_left_unwritten_is_not_finished() -> None:
    course = written_course(weeks=4, status=Course.Status.WRITING, ready_at=None)
    Quiz.objects.filter(course=course, week__number=4).update(status=PartStatus.FAILED)

    assert pipeline.course_finish(course_id=course.id) is False
    course.refresh_from_db()
    assert course.status == Course.Status.WRITING


def test_a_part_that_crashes_for_another_reason_is_handed_back_at_once(
    fake_openai: FakeOpenAI, queued_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = request_course(weeks=4)
    tasks.llm_write_outline(str(course.id))
    lesson = course.lessons.first()
    assert lesson is not None

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug, not the LLM")

    monkeypatch.setattr(llm, "complete", broken)
    with pytest.raises(RuntimeError):
        pipeline.lesson_write(lesson_id=lesson.id)
    assert Lesson.objects.get(id=lesson.id).status == PartStatus.PENDING  # not stuck until its lease ends

    monkeypatch.undo()
    tasks.llm_write_lesson(lesson.id)
    assert Lesson.objects.get(id=lesson.id).status == PartStatus.WRITTEN


def test_retrying_a_part_of_an_unknown_kind_is_refused() -> None:
    course = written_course(weeks=4)

    with pytest.raises(ValueError, match="Unknown part kind: 'week'"):
        pipeline.part_retry(course_id=course.id, kind="week", part_id=1)


def test_an_outline_that_crashes_for_another_reason_is_handed_back_at_once(
    fake_openai: FakeOpenAI, queued_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = request_course(weeks=4)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug, not the LLM")

    monkeypatch.setattr(llm, "complete_streaming", broken)
    with pytest.raises(RuntimeError):
        pipeline.course_outline_write(course_id=course.id)
    assert Course.objects.get(id=course.id).status == Course.Status.QUEUED

    monkeypatch.undo()
    tasks.llm_write_outline(str(course.id))
    assert Course.objects.get(id=course.id).status == Course.Status.WRITING
