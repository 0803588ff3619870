"""`courses.generation.llm` against endpoints that are not OpenAI: the structured-output forms, the token-limit
parameter, requests rejected for good, lenient reading of sloppy replies and timeouts of a slow local model.

Each runs through the real SDK against the fake server, set to play a local server (llama-cpp-python's quirks)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from courses.generation import llm, prompts
from courses.generation.schemas import QuizDraft
from courses.models import LLMCall
from tests.factories import CourseFactory
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db


LESSON = (
    "## Springs\n\nRoman engineers chose springs high in the hills so that water could flow by gravity alone. "
    "The channel fell a few centimetres for every hundred metres it ran. Settling tanks let sand and grit sink "
    "before the water reached the city. Inspectors walked the line every season to clear roots and lime."
)


def quiz_prompt() -> prompts.Prompt[QuizDraft]:
    outline = {"title": "Water for Rome", "weeks": [{"number": 1, "title": "Sources", "lessons": []}]}
    return prompts.quiz_prompt(
        language="en",
        outline_json=prompts.outline_json(outline),
        week=1,
        title="Sources",
        lessons={1: LESSON},
    )


def outcomes() -> list[str]:
    return [call.outcome for call in LLMCall.objects.order_by("id")]


def test_in_json_object_form_the_schema_goes_in_the_prompt_and_in_response_format(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_STRUCTURED_OUTPUT = "json_object"

    quiz = llm.complete(quiz_prompt(), course=None)

    assert 4 <= len(quiz.questions) <= 6
    body = fake_openai.calls()[0]["json"]
    assert body["response_format"]["type"] == "json_object"
    schema = body["response_format"]["schema"]
    assert schema["properties"]["questions"]["minItems"] == 4
    last = body["messages"][-1]
    assert last["role"] == "user"
    assert last["content"].startswith(llm.SCHEMA_INSTRUCTION)
    assert json.loads(last["content"].removeprefix(llm.SCHEMA_INSTRUCTION)) == schema


def test_in_tools_form_the_answer_is_the_forced_tool_calls_arguments(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_STRUCTURED_OUTPUT = "tools"

    quiz = llm.complete(quiz_prompt(), course=None)

    assert 4 <= len(quiz.questions) <= 6
    body = fake_openai.calls()[0]["json"]
    assert "response_format" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "quiz"}}
    assert body["tools"][0]["function"]["parameters"]["properties"]["questions"]


def test_it_sends_the_token_cap_under_the_configured_parameter(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    llm.complete(quiz_prompt(), course=None)
    settings.LLM_TOKEN_LIMIT_PARAMETER = "max_tokens"
    llm.complete(quiz_prompt(), course=None)

    first, second = (call["json"] for call in fake_openai.calls())
    assert (first.get("max_completion_tokens"), first.get("max_tokens")) == (prompts.MAX_TOKENS["quiz"], None)
    assert (second.get("max_completion_tokens"), second.get("max_tokens")) == (
        None,
        prompts.MAX_TOKENS["quiz"],
    )


def test_length_limits_go_into_the_schema_sent_only_when_asked(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    llm.complete(quiz_prompt(), course=None)
    settings.LLM_SCHEMA_LENGTH_LIMITS = True
    llm.complete(quiz_prompt(), course=None)

    schemas = [call["json"]["response_format"]["json_schema"]["schema"] for call in fake_openai.calls()]
    question = [schema["$defs"]["QuizQuestion"]["properties"]["question"] for schema in schemas]
    assert "maxLength" not in question[0]
    assert (question[1]["minLength"], question[1]["maxLength"]) == (1, 600)


def test_a_length_limit_too_long_for_a_grammar_sends_only_its_minimum(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_SCHEMA_LENGTH_LIMITS = True
    prompt = prompts.lesson_prompt(language="en", outline_json="{}", week=1, lesson=1, title="T", summary="S")

    llm.complete(prompt, course=None)

    body = fake_openai.calls()[0]["json"]["response_format"]["json_schema"]["schema"]["properties"][
        "body_markdown"
    ]
    assert body == {"type": "string", "minLength": 1}  # maxLength 20,000 would not compile in llama.cpp


def test_a_request_the_server_rejects_for_good_is_not_retried_and_names_its_call(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.refuse_json_schema = True

    with pytest.raises(llm.LLMError) as raised:
        llm.complete(quiz_prompt(), course=None)

    assert raised.value.outcome == LLMCall.Outcome.REJECTED
    assert "literal_error" in raised.value.message
    (call,) = LLMCall.objects.all()
    assert raised.value.call == f"quiz call {call.pk}, attempt 1"
    assert (call.outcome, len(fake_openai.calls())) == (LLMCall.Outcome.REJECTED, 1)
    assert "Input should be 'text' or 'json_object'" in call.error


def test_a_plain_server_error_is_still_retried_as_an_outage(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next("500")

    llm.complete(quiz_prompt(), course=None)

    assert outcomes() == [LLMCall.Outcome.SERVER_ERROR, LLMCall.Outcome.OK]


@pytest.mark.parametrize("style", ["raw_newlines", "fenced", "prose"])
def test_a_sloppy_but_complete_reply_is_read_leniently_on_the_first_try(
    fake_openai: FakeOpenAI, style: str
) -> None:
    fake_openai.reply_style = style
    lesson_body = "## Springs\n\n" + "Water flows downhill. " * 80
    fake_openai.override(lambda request: {"body_markdown": lesson_body})
    prompt = prompts.lesson_prompt(
        language="en", outline_json="{}", week=1, lesson=1, title="Springs", summary="Where water came from."
    )

    lesson = llm.complete(prompt, course=None)

    assert lesson.body_markdown == lesson_body.strip()
    assert outcomes() == [LLMCall.Outcome.OK]


def test_a_lenient_read_still_validates_strictly_and_stores_nothing_that_does_not_fit(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 1
    fake_openai.reply_style = "prose"
    fake_openai.override(lambda request: {"questions": []})

    with pytest.raises(llm.LLMError) as raised:
        llm.complete(quiz_prompt(), course=CourseFactory())

    assert raised.value.outcome == LLMCall.Outcome.INVALID_OUTPUT
    assert "does not match the schema" in raised.value.message
    assert outcomes() == [LLMCall.Outcome.INVALID_OUTPUT] * 2


def test_prose_with_no_json_object_in_it_is_not_json() -> None:
    assert llm.lenient_json("I'm sorry, I cannot write that.") is None
    assert (
        llm.lenient_json('Sure!\n```json\n{"a": "line one\nline two"}\n```') == '{"a": "line one\\nline two"}'
    )


def test_after_a_timeout_it_retries_at_most_llm_timeout_retries_times(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_TIMEOUT_RETRIES = 0
    fake_openai.fail_next("timeout", times=3)

    with pytest.raises(llm.LLMError) as raised:
        llm.complete(quiz_prompt(), course=None)

    # The server is still computing the first answer: no second request is queued behind it.
    assert raised.value.outcome == LLMCall.Outcome.TIMEOUT
    assert outcomes() == [LLMCall.Outcome.TIMEOUT]
    assert len(fake_openai.calls()) == 1


def test_other_faults_are_retried_whatever_the_timeout_retries(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_TIMEOUT_RETRIES = 1
    fake_openai.fail_next("timeout")
    fake_openai.fail_next("503")
    fake_openai.fail_next("timeout")

    with pytest.raises(llm.LLMError):
        llm.complete(quiz_prompt(), course=None)

    assert outcomes() == ["timeout", "server_error", "timeout"]
