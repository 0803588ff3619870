"""The fake OpenAI server, exercised through the real ``openai`` SDK over loopback HTTP (no Django)."""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel, Field, ValidationError

from tests.fakes.openai_server import FakeOpenAI, generate_instance
from tests.fakes.openai_server.schema import SchemaFaker
from tests.fakes.openai_server.text import TextMaker, quoted_sources

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Question(BaseModel):
    prompt: str
    options: list[str] = Field(min_length=3, max_length=5)
    correct_index: int = Field(ge=0, le=4)


class Lesson(BaseModel):
    title: str
    body_markdown: str
    reading_url: str
    minutes: int = Field(ge=5, le=60)
    level: str = Field(json_schema_extra={"enum": ["intro", "advanced"]})
    note: str | None
    quiz: list[Question] = Field(min_length=2, max_length=3)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(seed=1) as server:
        yield server


def make_client(fake: FakeOpenAI, **options: Any) -> OpenAI:
    options.setdefault("max_retries", 0)
    return OpenAI(base_url=fake.base_url, api_key="test", **options)


def lesson_format() -> dict[str, Any]:
    schema = Lesson.model_json_schema()
    return {"type": "json_schema", "json_schema": {"name": "lesson", "strict": True, "schema": schema}}


def ask(
    client: OpenAI, text: str = "Week 3: Roman aqueducts and hydraulic engineering", **options: Any
) -> Any:
    return client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "system", "content": "You write lessons."}, {"role": "user", "content": text}],
        response_format=lesson_format(),  # type: ignore[arg-type]
        **options,
    )


def test_it_answers_a_json_schema_request_with_a_valid_instance(fake: FakeOpenAI) -> None:
    completion = ask(make_client(fake))
    choice = completion.choices[0]
    lesson = Lesson.model_validate_json(choice.message.content or "")
    assert choice.finish_reason == "stop"
    assert completion.model == "gpt-test"
    assert lesson.body_markdown.count("## ") >= 3
    assert "## Exercise" in lesson.body_markdown
    assert "\n- " in lesson.body_markdown
    assert 600 <= len(lesson.body_markdown.split()) <= 900
    assert "aqueducts" in lesson.body_markdown.lower()
    assert lesson.reading_url.startswith("https://example.org/")
    assert all(q.correct_index < len(q.options) for q in lesson.quiz)


def test_the_sdk_parse_helper_gets_a_parsed_pydantic_model(fake: FakeOpenAI) -> None:
    completion = make_client(fake).chat.completions.parse(
        model="gpt-test",
        messages=[{"role": "user", "content": "Octopus cognition"}],
        response_format=Lesson,
    )
    assert isinstance(completion.choices[0].message.parsed, Lesson)


def test_the_same_request_gets_the_same_content_and_a_different_one_does_not(fake: FakeOpenAI) -> None:
    client = make_client(fake)
    first, again = ask(client, "Topic A"), ask(client, "Topic A")
    other = ask(client, "Topic B about glaciers")
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content


def test_usage_counts_tokens_and_reports_a_cached_prompt_prefix(fake: FakeOpenAI) -> None:
    client = make_client(fake)
    long_system = "Shared course context. " * 400  # ~9200 chars, well over the caching threshold
    usages = []
    for topic in ("Week 1: volcanoes", "Week 2: earthquakes"):
        messages = [{"role": "system", "content": long_system}, {"role": "user", "content": topic}]
        usages.append(
            client.chat.completions.create(
                model="m",
                messages=messages,
                response_format=lesson_format(),  # type: ignore[arg-type]
            ).usage
        )
    first, second = usages
    assert first is not None
    assert second is not None
    assert first.prompt_tokens == (len(long_system) + 1 + len("Week 1: volcanoes")) // 4
    assert first.total_tokens == first.prompt_tokens + first.completion_tokens > first.prompt_tokens
    assert first.prompt_tokens_details is not None
    assert first.prompt_tokens_details.cached_tokens == 0
    cached = second.prompt_tokens_details.cached_tokens if second.prompt_tokens_details else None
    assert cached is not None
    assert cached > 0
    assert cached % 128 == 0
    assert cached <= second.prompt_tokens


def test_a_queued_429_is_a_rate_limit_error_with_retry_after_headers(fake: FakeOpenAI) -> None:
    fake.retry_after = "2"
    fake.fail_next("429")
    with pytest.raises(openai.RateLimitError) as caught:
        ask(make_client(fake))
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.response.headers["retry-after-ms"] == "2000"
    assert caught.value.code == "rate_limit_exceeded"
    assert [c["fault"] for c in fake.calls()] == ["429"]


@pytest.mark.parametrize("kind", ["500", "503"])
def test_queued_server_errors_are_internal_server_errors(fake: FakeOpenAI, kind: str) -> None:
    fake.fail_next(kind)
    with pytest.raises(openai.InternalServerError) as caught:
        ask(make_client(fake))
    assert caught.value.status_code == int(kind)
    assert ask(make_client(fake)).choices[0].finish_reason == "stop"  # the queue held only one fault


def test_a_timeout_fault_trips_the_client_timeout(fake: FakeOpenAI) -> None:
    fake.timeout_sleep = 3
    fake.fail_next("timeout")
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(make_client(fake, timeout=0.5))
    assert time.monotonic() - started < 2


def test_a_truncated_fault_ends_with_finish_reason_length_and_broken_json(fake: FakeOpenAI) -> None:
    fake.fail_next("truncated")
    choice = ask(make_client(fake)).choices[0]
    assert choice.finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.content or "")


def test_an_invalid_schema_fault_parses_as_json_but_fails_validation(fake: FakeOpenAI) -> None:
    fake.fail_next("invalid_schema")
    content = ask(make_client(fake)).choices[0].message.content or ""
    data = json.loads(content)
    assert "title" not in data
    assert data["quiz"] == []
    with pytest.raises(ValidationError):
        Lesson.model_validate(data)


def test_a_refusal_fault_sets_message_refusal_and_no_content(fake: FakeOpenAI) -> None:
    fake.fail_next("refusal")
    message = ask(make_client(fake)).choices[0].message
    assert message.content is None
    assert message.refusal == "I can't help with that."


def test_a_not_json_fault_answers_prose(fake: FakeOpenAI) -> None:
    fake.fail_next("not_json")
    content = ask(make_client(fake)).choices[0].message.content or ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)
    assert len(content.split()) > 10


def test_a_disconnect_fault_is_a_connection_error(fake: FakeOpenAI) -> None:
    fake.fail_next("disconnect")
    with pytest.raises(openai.APIConnectionError):
        ask(make_client(fake))
    assert fake.calls()[0]["status"] is None


def test_the_sdk_retry_succeeds_after_one_queued_500(fake: FakeOpenAI) -> None:
    fake.fail_next("500")
    completion = ask(make_client(fake, max_retries=2))
    Lesson.model_validate_json(completion.choices[0].message.content or "")
    calls = fake.calls()
    assert [(c["status"], c["fault"]) for c in calls] == [(500, "500"), (200, None)]
    assert calls[1]["headers"]["x-stainless-retry-count"] == "1"


def test_fail_when_faults_only_calls_that_mention_the_substring(fake: FakeOpenAI) -> None:
    fake.fail_when("Lesson 3", "500")
    client = make_client(fake)
    for week in (1, 2, 4):
        assert ask(client, f"Lesson {week}").choices[0].finish_reason == "stop"
    for _ in range(2):  # times=None keeps faulting
        with pytest.raises(openai.InternalServerError):
            ask(client, "Lesson 3")
    assert [c["fault"] for c in fake.calls()] == [None, None, None, "500", "500"]


def test_fail_when_with_times_stops_after_that_many_calls(fake: FakeOpenAI) -> None:
    fake.fail_when("glaciers", "refusal", times=1)
    client = make_client(fake)
    assert ask(client, "glaciers").choices[0].message.refusal
    assert ask(client, "glaciers").choices[0].message.refusal is None


def test_a_full_fault_rate_draws_from_the_configured_kinds(fake: FakeOpenAI) -> None:
    fake.fault_rate = 1.0
    fake.fault_kinds = ["503"]
    with pytest.raises(openai.InternalServerError):
        ask(make_client(fake))


def test_unknown_fault_kinds_are_rejected(fake: FakeOpenAI) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        fake.fail_next("418")


def test_moderation_flags_inputs_with_a_trigger_word(fake: FakeOpenAI) -> None:
    response = make_client(fake).moderations.create(
        model="omni-moderation-latest", input=["A lesson on tides", "please flagme now"]
    )
    calm, flagged = response.results
    assert not calm.flagged
    assert not calm.categories.violence
    assert flagged.flagged
    assert flagged.categories.violence
    assert flagged.categories.illicit
    assert not flagged.categories.sexual
    assert flagged.category_scores.violence > 0.5
    assert flagged.category_applied_input_types.violence == ["text"]


def test_models_lists_the_configured_model(fake: FakeOpenAI) -> None:
    assert [m.id for m in make_client(fake).models.list()] == ["fake-model"]


def test_unknown_paths_get_an_openai_style_404(fake: FakeOpenAI) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{fake.base_url}/embeddings", data=b"{}")
    assert caught.value.code == 404
    assert json.loads(caught.value.read())["error"]["code"] == "unknown_url"


def test_max_in_flight_counts_concurrent_requests(fake: FakeOpenAI) -> None:
    fake.latency = 0.4
    client = make_client(fake)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: ask(client, f"Lesson {n}"), range(8)))
    assert len(results) == 8
    assert fake.max_in_flight == 8
    assert fake.in_flight == 0


def test_moderation_calls_can_be_faster_than_chat_calls(fake: FakeOpenAI) -> None:
    fake.latency = 0.6
    fake.moderation_latency = 0.05
    client = make_client(fake)
    started = time.monotonic()
    client.moderations.create(model="omni-moderation-latest", input="a calm topic")
    moderation_seconds = time.monotonic() - started
    started = time.monotonic()
    ask(client)
    chat_seconds = time.monotonic() - started
    assert moderation_seconds < 0.3
    assert chat_seconds >= 0.6


def test_hostile_mode_puts_script_payloads_in_markdown_bodies(fake: FakeOpenAI) -> None:
    fake.hostile = True
    lesson = Lesson.model_validate_json(ask(make_client(fake)).choices[0].message.content or "")
    assert "<script>alert(1)</script>" in lesson.body_markdown
    assert "javascript:alert(1)" in lesson.body_markdown
    assert "<script>" not in lesson.title


def test_override_replaces_the_generated_content(fake: FakeOpenAI) -> None:
    fake.override(lambda request: {"answer": request["messages"][-1]["content"].upper()})
    content = ask(make_client(fake), "exact please").choices[0].message.content
    assert json.loads(content or "") == {"answer": "EXACT PLEASE"}


def test_reset_forgets_records_queues_and_knobs(fake: FakeOpenAI) -> None:
    ask(make_client(fake))
    fake.fail_next("500", times=3)
    fake.fail_when("Week", "refusal")
    fake.latency = 5
    fake.hostile = True
    fake.reset()
    assert fake.requests == []
    assert fake.latency == 0
    assert not fake.hostile
    assert ask(make_client(fake)).choices[0].finish_reason == "stop"


def ask_ignoring_errors(client: OpenAI) -> None:
    # Whether the woken request answers or is cut off depends on timing; both are fine.
    with contextlib.suppress(openai.APIError):
        ask(client)


def test_stop_returns_quickly_while_a_timeout_fault_is_sleeping() -> None:
    fake = FakeOpenAI().start()
    fake.fail_next("timeout")  # default timeout_sleep is 30 s
    worker = threading.Thread(target=ask_ignoring_errors, args=(make_client(fake, timeout=10),))
    worker.start()
    while not fake.calls():
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    worker.join(timeout=5)
    assert not worker.is_alive()


def test_the_generator_respects_refs_enums_consts_and_bounds() -> None:
    schema = {
        "$defs": {"Tag": {"type": "string", "enum": ["x", "y"]}},
        "type": "object",
        "properties": {
            "kind": {"const": "quiz"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "minItems": 1, "maxItems": 1},
            "count": {"type": "integer", "minimum": 10, "maximum": 12},
            "answer_index": {"type": "integer"},
            "ratio": {"type": "number", "minimum": 0, "maximum": 1},
            "short": {"type": "string", "minLength": 3, "maxLength": 8},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
            "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    }
    instance = generate_instance(schema, seed=7, context="tides and moons")
    assert instance["kind"] == "quiz"
    assert len(instance["tags"]) == 1
    assert instance["tags"][0] in {"x", "y"}
    assert 10 <= instance["count"] <= 12
    assert instance["answer_index"] == 0
    assert 0 <= instance["ratio"] <= 1
    assert 3 <= len(instance["short"]) <= 8
    assert isinstance(instance["maybe"], bool)
    assert instance["extra"]
    assert all(isinstance(v, int) for v in instance["extra"].values())
    assert generate_instance(schema, seed=7, context="tides and moons") == instance


def test_it_runs_standalone_and_prints_where_it_listens() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--latency", "0"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("listening on http://127.0.0.1:")
        client = OpenAI(base_url=line.split()[-1].strip() + "/v1", api_key="test", max_retries=0)
        assert [m.id for m in client.models.list()] == ["fake-model"]
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_a_quotation_field_copies_a_sentence_of_a_quoted_document_and_names_it() -> None:
    schema = {
        "type": "object",
        "properties": {
            "lesson": {"type": "integer", "minimum": 1, "maximum": 4},
            "passage": {"type": "string"},
        },
    }
    lessons = (
        "<<<LESSON 1\n## One\n\nThe first lesson teaches about stone arches and their keystones.\nLESSON 1>>>\n"
        "<<<LESSON 2\n## Two\n\nThe second lesson explains gradients and how water finds its way.\nLESSON 2>>>"
    )
    sentences = {
        1: "The first lesson teaches about stone arches and their keystones.",
        2: "The second lesson explains gradients and how water finds its way.",
    }
    for seed in range(6):
        text = TextMaker(random.Random(seed), lessons, quoted_sources(lessons))
        instance = SchemaFaker(schema, text).generate(schema)
        assert instance["passage"] == sentences[instance["lesson"]]


# --------------------------------------------------------------------------- streaming


def test_it_streams_an_answer_token_by_token_with_its_usage_last(fake: FakeOpenAI) -> None:
    client = OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    stream = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "Explain the aqueducts of Rome"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [
        chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content
    ]
    assert len(pieces) > 10
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"


def test_it_paces_a_streamed_answer_by_first_token_latency_and_tokens_per_second(fake: FakeOpenAI) -> None:
    fake.first_token_latency = 0.3
    fake.tokens_per_second = 100
    fake.override(lambda body: "one two three four five six seven eight nine ten")
    client = OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    started = time.monotonic()
    arrivals = []
    for chunk in client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "count"}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 10
    assert 0.3 <= arrivals[0] < 0.5
    assert arrivals[-1] - arrivals[0] >= 0.09  # nine gaps of 10 ms


def test_a_stream_cut_fault_drops_the_connection_halfway_through_the_answer(fake: FakeOpenAI) -> None:
    fake.fail_next("stream_cut")
    fake.override(lambda body: "one two three four five six seven eight nine ten")
    client = OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    received: list[str] = []
    stream = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "count"}], stream=True
    )

    def read_all() -> None:
        received.extend(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    with pytest.raises(openai.APIError):  # the SDK reports the broken body as an API error
        read_all()
    assert "".join(received).split() == ["one", "two", "three", "four", "five"]


# --------------------------------------------------------------------------- the pace model and streaming


def test_at_a_pace_a_call_takes_the_first_token_plus_its_tokens_at_the_rate(fake: FakeOpenAI) -> None:
    fake.time_to_first_token, fake.tokens_per_second = 0.2, 4000.0
    client = make_client(fake)
    started = time.monotonic()
    completion = ask(client)
    seconds = time.monotonic() - started
    expected = 0.2 + completion.usage.completion_tokens / 4000.0
    assert completion.usage.completion_tokens > 400  # a lesson: long enough for its tokens to count
    assert expected <= seconds < expected + 1.0  # slack for a loaded machine


def test_a_short_reply_is_faster_than_a_long_one_at_the_same_pace(fake: FakeOpenAI) -> None:
    fake.time_to_first_token, fake.tokens_per_second = 0.05, 2000.0
    client = make_client(fake)
    fake.override(lambda request: {"answer": "yes"} if "short" in str(request["messages"]) else None)
    started = time.monotonic()
    ask(client, "short please")
    short = time.monotonic() - started
    started = time.monotonic()
    ask(client, "a whole lesson")
    long = time.monotonic() - started
    assert short < 0.3 < long


def test_without_a_rate_every_call_still_takes_the_fixed_latency(fake: FakeOpenAI) -> None:
    fake.latency = 0.3
    started = time.monotonic()
    ask(make_client(fake))
    assert 0.3 <= time.monotonic() - started < 1.0


def test_streaming_sends_the_reply_in_chunks_at_the_pace_then_usage(fake: FakeOpenAI) -> None:
    fake.time_to_first_token, fake.tokens_per_second = 0.3, 2000.0
    client = make_client(fake)
    started = time.monotonic()
    arrivals: list[float] = []
    text, usage, finish = "", None, None
    for chunk in ask(client, stream=True, stream_options={"include_usage": True}):
        arrivals.append(time.monotonic() - started)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert Lesson.model_validate_json(text)  # the chunks add up to the whole reply
    assert finish == "stop"
    assert usage is not None
    assert usage.completion_tokens == len(text) // 4
    assert 0.3 <= arrivals[0] < arrivals[-1] - 0.4  # the first token after its delay, long before the end
    assert arrivals[-1] >= 0.3 + usage.completion_tokens / 2000.0
    assert len(arrivals) > 20
    assert fake.calls()[0]["duration"] >= 0.3 + usage.completion_tokens / 2000.0  # in flight to its end


def test_a_stream_without_include_usage_has_no_usage_chunk(fake: FakeOpenAI) -> None:
    chunks = list(ask(make_client(fake), stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_streamed_faults_look_like_the_real_ones(fake: FakeOpenAI) -> None:
    client = make_client(fake)
    fake.fail_next("refusal")
    refusal = "".join(c.choices[0].delta.refusal or "" for c in ask(client, stream=True) if c.choices)
    fake.fail_next("truncated")
    truncated = [c.choices[0].finish_reason for c in ask(client, stream=True) if c.choices]
    fake.fail_next("429")
    with pytest.raises(openai.RateLimitError):
        ask(client, stream=True)
    assert refusal == "I can't help with that."
    assert truncated[-1] == "length"
