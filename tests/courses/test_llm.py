"""`courses.generation.llm` through the real openai SDK against the fake server: structured output, retries, accounting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from courses.generation import llm, prompts
from courses.generation.schemas import QuizDraft
from courses.models import LLMCall
from tests.factories import CourseFactory
from tests.fakes.openai_server import FakeOpenAI
from tests.fresh_python import fresh_python_prints

pytestmark = pytest.mark.django_db

FAULT_OUTCOMES = {
    "429": LLMCall.Outcome.RATE_LIMITED,
    "500": LLMCall.Outcome.SERVER_ERROR,
    "503": LLMCall.Outcome.SERVER_ERROR,
    "timeout": LLMCall.Outcome.TIMEOUT,
    "truncated": LLMCall.Outcome.INVALID_OUTPUT,
    "invalid_schema": LLMCall.Outcome.INVALID_OUTPUT,
    "refusal": LLMCall.Outcome.REFUSAL,
    "not_json": LLMCall.Outcome.INVALID_OUTPUT,
    "disconnect": LLMCall.Outcome.CONNECTION_ERROR,
}


def outline_prompt(weeks: int = 4) -> prompts.Prompt[Any]:
    return prompts.outline_prompt(topic="Roman aqueducts", language="en", weeks=weeks)


# The week's written lessons a quiz is grounded in (each question quotes one of them).
LESSONS = {
    1: "## Springs\n\nRome drew its water from springs in the hills. Gravity carried it along gentle gradients."
}


def quiz_prompt() -> prompts.Prompt[QuizDraft]:
    outline = {
        "topic": "Roman aqueducts",
        "title": "Water for Rome",
        "weeks": [
            {
                "number": 1,
                "title": "Sources and springs",
                "objectives": ["Explain gravity flow"],
                "lessons": [{"number": 1, "title": "Springs", "summary": "Where the water came from."}],
            }
        ],
    }
    return prompts.quiz_prompt(
        language="en", outline_json=prompts.outline_json(outline), week=1, title="Sources", lessons=LESSONS
    )


def calls() -> list[LLMCall]:
    return list(LLMCall.objects.order_by("id"))


def test_it_asks_for_strict_structured_output_and_returns_the_validated_answer(
    fake_openai: FakeOpenAI,
) -> None:
    outline = llm.complete(outline_prompt(weeks=5), course=None)

    assert len(outline.weeks) == 5
    request = fake_openai.calls()[0]
    response_format = request["json"]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["name"] == "course_outline"
    schema = response_format["json_schema"]["schema"]
    objects = [schema, *schema["$defs"].values()]
    assert all(node["additionalProperties"] is False for node in objects)
    assert all(set(node["required"]) == set(node["properties"]) for node in objects)
    assert request["json"]["model"] == "fake-model"
    assert request["headers"]["x-stainless-retry-count"] == "0"  # the SDK does not retry behind our back


def test_it_records_every_call_with_its_tokens_latency_and_course(fake_openai: FakeOpenAI) -> None:
    course = CourseFactory()

    llm.complete(outline_prompt(), course=course)

    (call,) = calls()
    assert (call.course, call.stage, call.model, call.outcome) == (course, "outline", "fake-model", "ok")
    assert call.prompt_tokens > 100
    assert call.completion_tokens > 100
    assert call.cached_tokens == 0
    assert call.latency_ms >= 0
    assert call.attempt == 1


def test_it_counts_the_cached_tokens_the_provider_reports(fake_openai: FakeOpenAI) -> None:
    outline = prompts.outline_json({"title": "Water", "weeks": [], "pad": "p" * 3000})

    llm.complete(
        prompts.quiz_prompt(language="en", outline_json=outline, week=1, title="W", lessons=LESSONS),
        course=None,
    )
    llm.complete(
        prompts.quiz_prompt(language="fr", outline_json=outline, week=1, title="W", lessons=LESSONS),
        course=None,
    )
    llm.complete(
        prompts.quiz_prompt(language="en", outline_json=outline, week=2, title="X", lessons=LESSONS),
        course=None,
    )

    # The third shares the first's system prompt and outline; the second's system prompt differs (language).
    assert [call.cached_tokens > 0 for call in calls()] == [False, False, True]
    assert calls()[2].cached_tokens <= calls()[2].prompt_tokens


@pytest.mark.parametrize("kind", sorted(FAULT_OUTCOMES))
def test_it_retries_each_kind_of_fault_and_records_every_attempt(fake_openai: FakeOpenAI, kind: str) -> None:
    fake_openai.fail_next(kind)

    quiz = llm.complete(quiz_prompt(), course=None)

    assert 4 <= len(quiz.questions) <= 6
    assert [call.outcome for call in calls()] == [FAULT_OUTCOMES[kind], "ok"]
    assert [call.attempt for call in calls()] == [1, 2]
    assert calls()[0].error
    assert len(fake_openai.calls()) == 2


def test_it_honours_retry_after(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.LLM_BACKOFF_BASE_SECONDS = 0.0  # any wait seen below comes from the server's header
    fake_openai.retry_after = "0.4"
    fake_openai.fail_next("429")

    llm.complete(quiz_prompt(), course=None)

    first, second = fake_openai.calls()
    assert second["timestamp"] - first["timestamp"] >= 0.4


def test_it_gives_up_after_llm_max_retries(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 2
    fake_openai.fail_next("500", times=5)

    with pytest.raises(llm.LLMError) as raised:
        llm.complete(quiz_prompt(), course=None)

    assert raised.value.outcome == LLMCall.Outcome.SERVER_ERROR
    assert len(fake_openai.calls()) == 3
    assert [call.attempt for call in calls()] == [1, 2, 3]


def test_it_does_not_retry_what_waiting_cannot_fix(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.OPENAI_BASE_URL = fake_openai.base_url + "/wrong-path"  # answered with a 404

    with pytest.raises(llm.LLMError) as raised:
        llm.complete(quiz_prompt(), course=None)

    assert raised.value.outcome == LLMCall.Outcome.REJECTED
    assert "404" in raised.value.message
    assert len(calls()) == 1


def test_it_retries_an_answer_that_breaks_a_rule_the_schema_cannot_express(fake_openai: FakeOpenAI) -> None:
    bad_question = {
        "question": "Q?",
        "options": ["a", "b", "c"],
        "correct_index": 4,
        "explanation": "e",
        "lesson": 1,
        "passage": "Rome drew its water from springs in the hills.",
    }
    replies = iter([{"questions": [bad_question] * 4}])
    fake_openai.override(lambda request: next(replies, None))

    quiz = llm.complete(quiz_prompt(), course=None)

    assert all(question.correct_index < len(question.options) for question in quiz.questions)
    assert [call.outcome for call in calls()] == ["invalid_output", "ok"]
    assert "correct_index" in calls()[0].error


def test_it_reads_retry_after_in_milliseconds_seconds_or_as_a_date() -> None:
    in_two_minutes = format_datetime(timezone.now() + timedelta(minutes=2), usegmt=True)

    assert llm.retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert llm.retry_after_seconds({"retry-after": "3"}) == 3.0
    assert 110 < (llm.retry_after_seconds({"retry-after": in_two_minutes}) or 0) <= 120
    assert llm.retry_after_seconds({"retry-after": "soon"}) is None
    assert llm.retry_after_seconds({}) is None


def test_its_backoff_grows_and_stays_under_the_cap(settings: Any) -> None:
    settings.LLM_BACKOFF_BASE_SECONDS = 1.0
    settings.LLM_BACKOFF_MAX_SECONDS = 10.0

    assert 0.5 <= llm.retry_delay(1, None) <= 1.0
    assert 2.0 <= llm.retry_delay(3, None) <= 4.0
    assert llm.retry_delay(10, None) <= 10.0
    assert 30 > llm.retry_delay(1, 60.0) == 10.0  # a Retry-After beyond the cap waits the cap
    assert 2.0 <= llm.retry_delay(1, 2.0) <= 2.2


def test_it_moderates_through_the_moderations_endpoint(fake_openai: FakeOpenAI) -> None:
    course = CourseFactory()

    results = llm.moderate(inputs=["Roman aqueducts", "how to FLAGME quickly"], course=course)

    assert [result.flagged for result in results] == [False, True]
    assert "violence" in results[1].categories
    assert results[1].scores["violence"] > 0.5
    assert results[0].text == "Roman aqueducts"
    request = fake_openai.calls("/v1/moderations")[0]["json"]
    assert request["input"] == ["Roman aqueducts", "how to FLAGME quickly"]
    (call,) = calls()
    assert (call.stage, call.model, call.outcome, call.course) == (
        "moderation",
        "omni-moderation-latest",
        "ok",
        course,
    )


def test_moderation_retries_then_reports_an_unreachable_server(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 2
    fake_openai.stop()

    with pytest.raises(llm.LLMError) as raised:
        llm.moderate(inputs=["fine"], course=None)

    assert raised.value.outcome == LLMCall.Outcome.CONNECTION_ERROR
    assert [(call.stage, call.attempt) for call in calls()] == [
        ("moderation", 1),
        ("moderation", 2),
        ("moderation", 3),
    ]


def test_offline_it_flags_nothing_and_makes_no_request(fake_openai: FakeOpenAI, settings: Any) -> None:
    settings.OPENAI_API_KEY = ""

    results = llm.moderate(inputs=["FLAGME"], course=None)

    assert [(result.flagged, result.model) for result in results] == [(False, "offline")]
    assert fake_openai.requests == []
    assert [(call.model, call.outcome) for call in calls()] == [("offline", "ok")]


def test_offline_it_answers_with_the_same_validated_models_and_zero_tokens(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.OPENAI_API_KEY = ""

    outline = llm.complete(outline_prompt(weeks=6), course=None)

    assert len(outline.weeks) == 6
    assert fake_openai.requests == []
    (call,) = calls()
    assert (call.model, call.prompt_tokens, call.completion_tokens, call.outcome) == ("offline", 0, 0, "ok")
    assert json.loads(outline.model_dump_json())["weeks"][0]["lessons"]


# --------------------------------------------------------------------------------------------------------
# Streaming (the outline, shown as it is written)
# --------------------------------------------------------------------------------------------------------


def test_streaming_hands_over_the_answer_as_it_grows_and_returns_it_validated(
    fake_openai: FakeOpenAI,
) -> None:
    partials: list[dict[str, Any]] = []

    outline = llm.complete_streaming(outline_prompt(), course=None, on_partial=partials.append)

    request = fake_openai.calls()[0]["json"]
    assert (request["stream"], request["stream_options"]) == (True, {"include_usage": True})
    weeks_seen = [len(partial.get("weeks", [])) for partial in partials]
    assert weeks_seen == sorted(weeks_seen)
    assert weeks_seen[0] < 4 == weeks_seen[-1]
    assert partials[-1] == outline.model_dump()
    call = LLMCall.objects.get()
    assert (call.stage, call.outcome) == ("outline", LLMCall.Outcome.OK)
    assert call.completion_tokens > 0  # from the stream's usage chunk


def test_with_tools_the_outline_streams_as_the_forced_calls_argument_fragments(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_STRUCTURED_OUTPUT = "tools"
    partials: list[dict[str, Any]] = []

    outline = llm.complete_streaming(outline_prompt(), course=None, on_partial=partials.append)

    request = fake_openai.calls()[0]["json"]
    assert request["stream"] is True
    assert request["tool_choice"]["function"]["name"] == request["tools"][0]["function"]["name"]
    assert "response_format" not in request  # no fallback to JSON mode
    weeks_seen = [len(partial.get("weeks", [])) for partial in partials]
    assert weeks_seen[0] < 4 == weeks_seen[-1]
    assert partials[-1] == outline.model_dump()
    assert LLMCall.objects.get().outcome == LLMCall.Outcome.OK


@pytest.mark.parametrize("kind", ["truncated", "refusal", "500", "invalid_schema"])
def test_a_streamed_fault_is_retried_like_any_other(fake_openai: FakeOpenAI, kind: str) -> None:
    fake_openai.fail_next(kind)

    llm.complete_streaming(outline_prompt(), course=None, on_partial=lambda partial: None)

    outcomes = list(LLMCall.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == [FAULT_OUTCOMES[kind], LLMCall.Outcome.OK]


def test_a_partial_answer_leaves_out_what_is_unfinished() -> None:
    assert llm.partial_answer('{"title": "Water", "weeks": [{"title": "Spr') == {
        "title": "Water",
        "weeks": [{}],
    }
    assert llm.partial_answer("not json") == {}


def test_a_process_that_never_calls_the_llm_does_not_load_the_openai_sdk() -> None:
    """25 MB in every web and PDF worker process (they import this module through the admin and the tasks), which
    put the PDF worker past its 300 MB; the SDK loads on its first use instead."""
    code = (
        "import sys, django; django.setup(); from school.celery import app; app.loader.import_default_modules(); "
        "from courses.generation import llm; print(sorted(m for m in sys.modules if m.startswith('openai.')))"
    )
    assert fresh_python_prints(code) == "[]"


def test_the_sdk_loads_once_when_many_threads_first_need_it() -> None:
    """A worker's threads start their first LLM calls together; the SDK must load once, whole, for all of them."""
    code = (
        "import django; django.setup(); from concurrent.futures import ThreadPoolExecutor; "
        "from courses.generation import llm; "
        "make = lambda n: type(llm._client_for(f'http://127.0.0.1:9/{n}', 'k', 1.0)).__name__; "
        "print(sorted(set(ThreadPoolExecutor(32).map(make, range(64)))))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    root = Path(__file__).resolve().parents[2]
    made = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=120
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().splitlines()[-1] == "['OpenAI']"
