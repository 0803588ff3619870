"""A 4-week course written by a real local model through real Celery workers, with the settings the doctor
recommends for it. SmolLM2-135M writes poor prose: the test shows every call is understood (none rejected for
its form) and the course reaches an end state, not that the lessons are good.

Run with `make test-real-llm` (excluded from `make test` and CI: building llama.cpp takes minutes)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from courses.generation import doctor, pipeline
from courses.generation.request import course_request
from courses.models import Course, Lesson, LLMCall, PartStatus, Quiz
from tests.real_llm.conftest import MODEL_ALIAS

pytestmark = [pytest.mark.real_llm, pytest.mark.django_db(transaction=True), pytest.mark.timeout(3 * 3600)]

UNFINISHED = (PartStatus.PENDING, PartStatus.WRITING)
NOT_UNDERSTOOD = (LLMCall.Outcome.REJECTED, LLMCall.Outcome.ERROR)
# Caps for this run only, so a 135M model rambling to its limit costs minutes, not hours, on two busy cores:
# a 4-week outline at its shortest (3 lessons a week, three objectives) is about 1,600 tokens, but the model
# rambles past it (at 2,400 the reply was cut off after 225 s; at 4,000 it ended on its own), a
# lesson of 150 words (the least that validates) about 220, a quiz of four questions about 400 (both given room).
TEST_MAX_TOKENS = {"outline": 4000, "week": 800, "lesson": 600, "quiz": 600, "judge": 600}


def test_the_doctor_finds_working_settings_and_a_four_week_course_reaches_an_end_state(
    llama_server: str, celery_worker: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = (
        "none",
        llama_server,
        MODEL_ALIAS,
    )
    settings.LLM_TIMEOUT_SECONDS = 600.0  # for the doctor's short probes, on two busy cores
    monkeypatch.setattr(
        pipeline.prompts, "MAX_TOKENS", TEST_MAX_TOKENS
    )  # the doctor sizes the timeout from them

    diagnosis = doctor.diagnose()

    print("\n".join(diagnosis.lines()))
    assert diagnosis.can_write, diagnosis.verdict
    recommended = diagnosis.recommended
    assert recommended["LLM_STRUCTURED_OUTPUT"] in ("json_object", "tools")  # json_schema gets a 500 here
    assert recommended["LLM_TOKEN_LIMIT_PARAMETER"] == "max_tokens"
    assert recommended["MODERATION_PROVIDER"] == "local"  # no /v1/moderations
    # The doctor times a short answer with and without length limits and recommends them unless they are much
    # slower; measured here at 0.7x (no slower), so they are sent. An outline's schema has far more rules than its
    # probe: whether the limits then slow the outline is what a whole run would show.
    assert recommended["LLM_SCHEMA_LENGTH_LIMITS"] in ("true", "false")
    assert recommended["LLM_PROFILE"] == "slow"
    settings.LLM_STRUCTURED_OUTPUT = recommended["LLM_STRUCTURED_OUTPUT"]
    settings.LLM_TOKEN_LIMIT_PARAMETER = recommended["LLM_TOKEN_LIMIT_PARAMETER"]
    settings.LLM_SCHEMA_LENGTH_LIMITS = recommended["LLM_SCHEMA_LENGTH_LIMITS"] == "true"
    settings.MODERATION_PROVIDER = recommended["MODERATION_PROVIDER"]
    # Sized by the doctor from its measured pace and the caps above: the outline at the pace, twice over.
    settings.LLM_TIMEOUT_SECONDS = float(recommended["LLM_TIMEOUT_SECONDS"])
    # What LLM_PROFILE=slow sets: one call at a time (the server answers one at a time), few retries.
    # (No retry at all here, to keep the run short: a part the model botches fails with its reason.)
    settings.LLM_MAX_CONCURRENCY, settings.LLM_MAX_RETRIES, settings.LLM_TIMEOUT_RETRIES = 1, 0, 0
    # and one attempt per part: no beat runs here to sweep a failed part into a second attempt, so with more a
    # quiz would wait for good on a week whose lesson failed (measured: 16 lessons failed, the course waited).
    settings.GENERATION_PART_MAX_ATTEMPTS = 1
    settings.LLM_SLOT_LEASE_SECONDS = settings.LLM_TIMEOUT_SECONDS + 30

    started = time.monotonic()
    result = course_request(topic="The water cycle", language="en", weeks=4, user=None, ip=None)
    course = _wait_for_an_end_state(result.course.id)
    print(f"course {course.status} in {time.monotonic() - started:.0f} s: {_summary(course)}")

    calls = list(LLMCall.objects.filter(course=course))
    assert calls
    assert [(call.stage, call.error) for call in calls if call.outcome in NOT_UNDERSTOOD] == []
    assert any(call.outcome == LLMCall.Outcome.OK for call in calls)
    if course.status == Course.Status.FAILED:
        assert course.status_reason  # the outline could not be had: the requester is told why
        return
    assert course.status in (Course.Status.READY, Course.Status.INCOMPLETE)
    for model in (Lesson, Quiz):
        parts = model.objects.filter(course=course)
        assert parts.exists()
        assert not parts.filter(status=PartStatus.FAILED, failure_reason="").exists()
    assert not Lesson.objects.filter(course=course, status__in=UNFINISHED).exists()
    # A quiz is written from its week's lessons: it waits (for a retry of the course's failed parts) only on a
    # week where a lesson failed.
    waiting = Quiz.objects.filter(course=course, status__in=UNFINISHED)
    assert not waiting.exclude(week__lessons__status=PartStatus.FAILED).exists()


def _wait_for_an_end_state(course_id: Any) -> Course:
    """Ready, incomplete (each failed part says why) or failed: the test's own timeout is the limit."""
    while True:
        course = Course.objects.get(id=course_id)
        if course.status in (Course.Status.READY, Course.Status.INCOMPLETE, Course.Status.FAILED):
            return course
        time.sleep(2)


def _summary(course: Course) -> str:
    outcomes: dict[str, int] = {}
    for outcome in LLMCall.objects.filter(course=course).values_list("outcome", flat=True):
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    parts = {
        model.__name__: {
            status: model.objects.filter(course=course, status=status).count() for status in PartStatus.values
        }
        for model in (Lesson, Quiz)
    }
    return f"calls {outcomes}, parts {parts}"
