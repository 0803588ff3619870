"""The one module that talks to the LLM, through the official `openai` SDK (nothing else imports it).

`complete(prompt, course=...)` asks for structured output (the JSON schema built from the prompt's pydantic
model, in the form the endpoint supports: settings.LLM_STRUCTURED_OUTPUT) and returns the validated answer;
`moderate(inputs=..., course=...)` screens text; `complete_stream(...)` yields a plain-text answer piece by
piece as the model writes it (the tutor). The first two:
- retry 429s, 5xx, timeouts, dropped connections and unusable replies (refused, truncated, not JSON, not
  matching the schema) with exponential backoff and jitter, honouring Retry-After, at most LLM_MAX_RETRIES
  times (at most LLM_TIMEOUT_RETRIES of them after a timeout); a reply is used whole or not at all;
- never retry a request the server rejects for good (a 4xx, or a 5xx whose body says the request is invalid:
  llama-cpp-python answers an unknown response_format so): those fail at once as REJECTED;
- hold one of the global LLM_MAX_CONCURRENCY slots (`courses.generation.slots`) during each attempt, never while waiting
  to retry;
- record every attempt as an LLMCall row (tokens, cached tokens, latency, outcome).

Replies are read leniently (a JSON object in a code fence or in prose, raw control characters inside its
strings) before the same strict pydantic validation. The `probe_*` functions at the end make single,
unrecorded calls for `manage.py llm_doctor`.

Without OPENAI_API_KEY the answer comes from the offline generator (`courses.generation.offline`) instead of the network;
everything else (validation, recording, retries) is the same path.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pydantic_core
from django.conf import settings
from django.utils import timezone
from pydantic import ValidationError

from courses.generation import offline, slots
from courses.generation.prompts import AnswerT, Prompt
from courses.generation.schemas import request_json_schema, strict_json_schema
from courses.models import Course, LLMCall
from courses.moderation import costs
from school.retry import with_retries


def _sdk_loaded_on_first_use(name: str) -> ModuleType:
    """`name`, imported when code first reads one of its attributes (importlib's LazyLoader), not now: the SDK
    costs 25 MB and 0.3 s in every process that imports this module, and the web and PDF worker processes
    import it (admin, tasks) without ever calling the LLM (bench/README.md, bench_pdf.py)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None, name
    assert spec.loader is not None, name
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_SDK_LOADING = threading.Lock()

if TYPE_CHECKING:
    import openai
    from openai.types.shared_params import ResponseFormatJSONSchema
else:
    openai = _sdk_loaded_on_first_use("openai")

logger = logging.getLogger(__name__)

OFFLINE_MODEL = "offline"
CHAT_PATH = "/chat/completions"
MODERATIONS_PATH = "/moderations"
MODELS_PATH = "/models"
STRUCTURED_FORMS = ("json_schema", "json_object", "tools")
TOKEN_LIMIT_PARAMETERS = ("max_completion_tokens", "max_tokens")
# With JSON mode the model sees the schema only if the prompt shows it (a server may also enforce it).
SCHEMA_INSTRUCTION = "Answer with one JSON object, and nothing else, that matches this JSON schema:\n"
# A 5xx that is really the server refusing the request's shape: llama-cpp-python answers a response_format it does
# not know with HTTP 500 and pydantic's "literal_error"; others say "not supported" or "unrecognized argument".
INVALID_REQUEST_WORDS = re.compile(
    r"literal_error|validation error|extra_forbidden|invalid[_ ]request|not supported|unsupported|"
    r"unrecognized request argument|unknown (?:field|parameter)|input should be",
    re.IGNORECASE,
)
FENCED_BLOCK = re.compile(r"```[a-zA-Z]*[ \t]*\n?(.*?)```", re.DOTALL)
Outcome = LLMCall.Outcome
RawT = TypeVar("RawT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class Reply(Generic[RawT]):
    value: RawT
    usage: Usage


@dataclass(frozen=True)
class ModerationResult:
    text: str
    flagged: bool
    categories: tuple[str, ...]  # the names of the flagged categories, e.g. ("violence",)
    scores: dict[str, float]
    model: str  # "offline" when no LLM is configured: then nothing is flagged


class LLMError(Exception):
    """The LLM gave no usable answer after every allowed attempt, or failed in a way no retry can fix.

    `message` is the server's own words (for admins and logs, never for learners); `call` says which recorded
    call it came from ("outline call 3, attempt 2")."""

    def __init__(self, outcome: str, message: str, *, call: str = "") -> None:
        super().__init__(f"{outcome}: {message}" + (f" ({call})" if call else ""))
        self.outcome = outcome
        self.message = message
        self.call = call


class AttemptFailed(Exception):
    """One attempt that produced no usable answer."""

    def __init__(
        self,
        outcome: str,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.usage = usage


def is_offline() -> bool:
    return not settings.OPENAI_API_KEY


def generator_name() -> str:
    """What writes courses in this process: "offline" or the model's name."""
    return OFFLINE_MODEL if is_offline() else settings.OPENAI_MODEL


def complete(prompt: Prompt[AnswerT], *, course: Course | None) -> AnswerT:
    """The answer to `prompt`, validated against `prompt.schema`. Raises LLMError when none could be had."""

    def send() -> Reply[str]:
        return Reply(offline.answer(prompt), Usage()) if is_offline() else _within_budget(prompt, _chat)

    return _with_retries(
        stage=prompt.stage, course=course, send=send, parse=lambda text: _validated(prompt, text)
    )


def complete_streaming(
    prompt: Prompt[AnswerT], *, course: Course | None, on_partial: Callable[[dict[str, Any]], None]
) -> AnswerT:
    """As `complete`, with the reply streamed: `on_partial` is called with the answer parsed so far (the
    fields and list items complete so far, as a dict) while it grows, e.g. to show an outline week by week.
    What is returned is still validated whole, and retried as `complete` retries."""

    def send() -> Reply[str]:
        if not is_offline():
            return _within_budget(prompt, lambda asked: _chat_stream(asked, on_partial))
        text = offline.answer(prompt)
        on_partial(partial_answer(text))
        return Reply(text, Usage())

    return _with_retries(
        stage=prompt.stage, course=course, send=send, parse=lambda text: _validated(prompt, text)
    )


def partial_answer(text: str) -> dict[str, Any]:
    """The JSON object begun in `text`, read leniently: unfinished strings and objects are left out."""
    try:
        value = pydantic_core.from_json(text, allow_partial=True)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class SpendCapReached(LLMError):
    """Today's budget cannot cover the call's worst case, so it was not sent (callers that know how may pause
    instead of failing: the pipeline does)."""


def _within_budget(prompt: Prompt[AnswerT], chat: Callable[[Prompt[AnswerT]], Reply[str]]) -> Reply[str]:
    """`chat(prompt)`, its worst-case cost reserved against today's budget first (SpendCapReached: not sent)
    and settled to its real cost after, whatever the outcome."""
    prompt_chars = sum(len(str(message.get("content", ""))) for message in prompt.messages)
    prompt_chars += len(json.dumps(strict_json_schema(prompt.schema)))  # the schema is sent as input too
    model = settings.OPENAI_MODEL
    try:
        reservation = costs.spend_reserve(
            model=model, prompt_chars=prompt_chars, max_tokens=prompt.max_tokens
        )
    except costs.SpendCapReached as refused:
        raise SpendCapReached("spend_cap", str(refused)) from None
    usage: Usage | None = None
    try:
        reply = chat(prompt)
        usage = reply.usage
        return reply
    except AttemptFailed as failure:
        usage = failure.usage
        raise
    finally:
        costs.spend_settle(reservation=reservation, model=model, usage=usage)


def moderation_provider() -> str:
    """Who judges meaning in this process: "openai", "url", "local" or "off" (settings.MODERATION_PROVIDER; the
    OpenAI endpoint without a key means the local rules)."""
    provider: str = settings.MODERATION_PROVIDER
    return "local" if provider == "openai" and is_offline() else provider


def moderate(*, inputs: list[str], course: Course | None) -> list[ModerationResult]:
    """One result per input, in order. Offline, nothing is flagged (there is no model to ask)."""
    if not inputs:
        return []

    def send() -> Reply[list[ModerationResult]]:
        if is_offline() and settings.MODERATION_PROVIDER != "url":
            return Reply([ModerationResult(text, False, (), {}, OFFLINE_MODEL) for text in inputs], Usage())
        return _moderations(inputs)

    return _with_retries(stage="moderation", course=course, send=send, parse=lambda results: results)


def complete_stream(
    *, messages: Sequence[dict[str, str]], stage: str, course: Course | None, max_tokens: int
) -> Iterator[str]:
    """The model's plain-text answer to `messages`, in pieces as they are written.

    Opening the stream is retried like any call; once a piece has been yielded, a failure raises LLMError at
    once (the caller has shown part of the answer, which no retry can silently replace). One global slot is
    held while the stream is open, and the call is recorded as an LLMCall with its tokens whatever happens.
    """
    if is_offline():
        raise LLMError(Outcome.ERROR, "no LLM is configured")
    call = LLMCall(course=course, stage=stage, model=settings.OPENAI_MODEL)
    body = {
        "model": settings.OPENAI_MODEL,
        "messages": list(messages),
        settings.LLM_TOKEN_LIMIT_PARAMETER: max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    usage = Usage()
    started = time.monotonic()
    try:
        with slots.llm_slot():
            stream = with_retries(
                lambda: _open_stream(body),
                attempts=settings.LLM_MAX_RETRIES + 1,
                delay=retry_delay,
                what=stage,
            )
            for chunk in stream:
                usage = _usage(chunk.get("usage")) if chunk.get("usage") else usage
                piece = _stream_piece(chunk)
                if piece:
                    yield piece
    except AttemptFailed as failure:
        call.outcome, call.error = failure.outcome, failure.message[:2000]
        raise LLMError(failure.outcome, failure.message) from failure
    except openai.OpenAIError as error:  # the stream broke after it opened
        broken = _failure_from_error(error)
        call.outcome, call.error = broken.outcome, broken.message[:2000]
        raise LLMError(broken.outcome, broken.message) from error
    else:
        call.outcome = Outcome.OK
    finally:
        if not call.outcome:  # the caller stopped reading (GeneratorExit) or something unexpected broke
            call.outcome, call.error = Outcome.ERROR, "the stream was abandoned"
        call.latency_ms = int((time.monotonic() - started) * 1000)
        _count(call, usage)
        call.save()


def _with_retries(
    *,
    stage: str,
    course: Course | None,
    send: Callable[[], Reply[RawT]],
    parse: Callable[[RawT], ResultT],
) -> ResultT:
    model = _model_for(stage)
    numbers = itertools.count(1)
    calls: list[LLMCall] = []

    def attempt_once() -> ResultT:
        call = LLMCall(course=course, stage=stage, model=model, attempt=next(numbers))
        calls.append(call)
        try:
            return _attempt(call, send, parse)
        except AttemptFailed as failure:
            # A timed-out request may still be running on the server (a local model computes it to the end):
            # sending it again at once only queues more work behind it.
            timeouts = sum(call.outcome == Outcome.TIMEOUT for call in calls)
            if failure.outcome == Outcome.TIMEOUT and timeouts > settings.LLM_TIMEOUT_RETRIES:
                failure.retryable = False
            raise

    try:
        return with_retries(
            attempt_once, attempts=settings.LLM_MAX_RETRIES + 1, delay=retry_delay, what=f"LLM {stage}"
        )
    except AttemptFailed as failure:
        last = calls[-1]
        where = f"{stage} call {last.pk}, attempt {last.attempt}" if last.pk else ""
        raise LLMError(failure.outcome, failure.message, call=where) from failure


def _model_for(stage: str) -> str:
    if is_offline():
        return OFFLINE_MODEL
    return settings.OPENAI_MODERATION_MODEL if stage == "moderation" else settings.OPENAI_MODEL


def _attempt(call: LLMCall, send: Callable[[], Reply[RawT]], parse: Callable[[RawT], ResultT]) -> ResultT:
    """One try: wait for a slot, send, parse. `call` is filled in and saved whatever the outcome."""
    try:
        with slots.llm_slot():
            started = time.monotonic()
            try:
                reply = send()
            finally:
                call.latency_ms = int((time.monotonic() - started) * 1000)
        _count(call, reply.usage)
        result = parse(reply.value)
    except AttemptFailed as failure:
        if failure.usage is not None:
            _count(call, failure.usage)
        call.outcome, call.error = failure.outcome, failure.message[:2000]
        call.save()
        if call.course_id is not None:  # a retrying call is a sign of life: keep the sweeper away
            Course.objects.filter(pk=call.course_id).update(heartbeat_at=timezone.now())
        raise
    call.outcome = Outcome.OK
    call.save()
    return result


def _count(call: LLMCall, usage: Usage) -> None:
    call.prompt_tokens = usage.prompt_tokens
    call.completion_tokens = usage.completion_tokens
    call.cached_tokens = usage.cached_tokens


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before attempt `attempt + 1`: the server's Retry-After if given, else backoff."""
    cap = settings.LLM_BACKOFF_MAX_SECONDS
    if retry_after is not None:
        # Up to 10% more than asked, so callers told the same moment do not all come back at once.
        return min(cap, retry_after * random.uniform(1.0, 1.1))
    backoff = min(cap, settings.LLM_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return random.uniform(backoff / 2, backoff)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a response asks for: `retry-after-ms` (OpenAI's), else `Retry-After` in seconds or as a date."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - timezone.now()).total_seconds())


# --------------------------------------------------------------------------------------------------------
# The OpenAI side
# --------------------------------------------------------------------------------------------------------


def _client() -> openai.OpenAI:
    return _client_for(settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.LLM_TIMEOUT_SECONDS)


def _moderation_client() -> openai.OpenAI:
    if settings.MODERATION_PROVIDER != "url":
        return _client()
    # A local moderation server may need no key; the SDK wants one all the same.
    key = settings.MODERATION_API_KEY or "none"
    return _client_for(settings.MODERATION_BASE_URL, key, settings.LLM_TIMEOUT_SECONDS)


@cache
def _client_for(base_url: str, api_key: str, timeout: float) -> openai.OpenAI:
    # max_retries=0: retrying is ours (`_with_retries`, on `school.retry`), so every attempt is recorded as an LLMCall, waits for
    # a concurrency slot of its own, and Retry-After is honoured within our cap. The SDK's own retries would be
    # invisible to all three. One client per configuration, shared by threads, keeps connections pooled.
    # Every other use of the SDK follows a client made here, so it loads here, one thread at a time:
    # LazyLoader is not thread-safe before Python 3.12, and a worker's threads start their calls together.
    with _SDK_LOADING:
        return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)


def _chat(prompt: Prompt[AnswerT]) -> Reply[str]:
    body = chat_body(
        prompt,
        form=settings.LLM_STRUCTURED_OUTPUT,
        token_parameter=settings.LLM_TOKEN_LIMIT_PARAMETER,
        max_tokens=prompt.max_tokens,
    )
    return _answer(_post(CHAT_PATH, body), form=settings.LLM_STRUCTURED_OUTPUT)


def chat_body(
    prompt: Prompt[AnswerT],
    *,
    form: str,
    token_parameter: str,
    max_tokens: int,
    length_limits: bool | None = None,
) -> dict[str, Any]:
    """The chat request asking for `prompt`'s schema in `form` ("json_schema", "json_object" or "tools"), with
    string lengths in the schema as LLM_SCHEMA_LENGTH_LIMITS says unless `length_limits` is given."""
    if length_limits is None:
        length_limits = settings.LLM_SCHEMA_LENGTH_LIMITS
    schema = request_json_schema(prompt.schema, length_limits=length_limits)
    messages = list(prompt.messages)
    body: dict[str, Any] = {"model": settings.OPENAI_MODEL, token_parameter: max_tokens}
    if form == "json_schema":
        response_format: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {"name": prompt.schema_name, "strict": True, "schema": schema},
        }
        body["response_format"] = response_format
    elif form == "json_object":
        # `schema` beside the type is llama-cpp-python's (and vLLM's) way to enforce it; others ignore it.
        body["response_format"] = {"type": "json_object", "schema": schema}
        text = SCHEMA_INSTRUCTION + json.dumps(schema, separators=(",", ":"))
        messages.append({"role": "user", "content": text})  # last, so the shared prefix stays cacheable
    else:
        function = {"name": prompt.schema_name, "description": "Give the answer.", "parameters": schema}
        body["tools"] = [{"type": "function", "function": function}]
        body["tool_choice"] = {"type": "function", "function": {"name": prompt.schema_name}}
    body["messages"] = messages
    return body


def _answer(completion: dict[str, Any], *, form: str) -> Reply[str]:
    """The reply's text (a tool call's arguments with tools), or AttemptFailed saying why there is none."""
    usage = _usage(completion.get("usage"))
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise AttemptFailed(Outcome.INVALID_OUTPUT, "the reply held no answer", usage=usage)
    choice = choices[0]
    message = _object(choice.get("message"))
    if message.get("refusal") or choice.get("finish_reason") == "content_filter":
        refusal = message.get("refusal") or "stopped by the content filter"
        raise AttemptFailed(Outcome.REFUSAL, f"refused: {refusal}", usage=usage)
    if choice.get("finish_reason") == "length":
        raise AttemptFailed(
            Outcome.INVALID_OUTPUT, "truncated: the reply reached the token limit", usage=usage
        )
    content = message.get("content")
    if form == "tools":
        calls = message.get("tool_calls")
        function = _object(calls[0].get("function")) if isinstance(calls, list) and calls else {}
        arguments = function.get("arguments")
        content = json.dumps(arguments) if isinstance(arguments, dict) else arguments or content
    if not content or not isinstance(content, str):
        raise AttemptFailed(Outcome.INVALID_OUTPUT, "the reply was empty", usage=usage)
    return Reply(content, usage)


# Parse the growing reply again once it has this many more characters (about a week of an outline's lessons).
PARTIAL_EVERY_CHARS = 400


def _chat_stream(prompt: Prompt[AnswerT], on_partial: Callable[[dict[str, Any]], None]) -> Reply[str]:
    """`_chat`, streamed (server-sent events), calling `on_partial` as the reply grows. Through the SDK's
    typed `create`: one call per course streams, so its per-chunk objects cost little. With tools the answer
    comes as the forced call's argument fragments (content too, for a server that answers in prose)."""
    pieces: list[str] = []
    arguments: list[str] = []
    refusal, finish, usage, parsed_at = "", None, Usage(), 0
    body = chat_body(
        prompt,
        form=settings.LLM_STRUCTURED_OUTPUT,
        token_parameter=settings.LLM_TOKEN_LIMIT_PARAMETER,
        max_tokens=prompt.max_tokens,
    )
    try:
        stream = _client().chat.completions.create(  # type: ignore[call-overload]  # messages: plain dicts
            **body, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            if chunk.usage is not None:
                usage = _usage(chunk.usage.model_dump())
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                arguments += [_first_call_arguments(call) for call in choice.delta.tool_calls or ()]
                refusal += choice.delta.refusal or ""
                finish = choice.finish_reason or finish
            so_far = arguments if any(arguments) else pieces
            length = sum(map(len, so_far))
            if length - parsed_at >= PARTIAL_EVERY_CHARS:
                parsed_at = length
                on_partial(partial_answer("".join(so_far)))
    except openai.OpenAIError as error:
        raise _failure_from_error(error) from error
    content = "".join(arguments) or "".join(pieces)
    if refusal or finish == "content_filter":
        raise AttemptFailed(
            Outcome.REFUSAL, f"refused: {refusal or 'stopped by the content filter'}", usage=usage
        )
    if finish == "length":
        raise AttemptFailed(
            Outcome.INVALID_OUTPUT, "truncated: the reply reached the token limit", usage=usage
        )
    if finish is None:
        raise AttemptFailed(Outcome.CONNECTION_ERROR, "the stream ended before the reply did", usage=usage)
    if not content:
        raise AttemptFailed(Outcome.INVALID_OUTPUT, "the reply was empty", usage=usage)
    on_partial(partial_answer(content))
    return Reply(content, usage)


def _first_call_arguments(call: Any) -> str:
    """The argument fragment a streamed tool-call delta adds to the first (the forced) call."""
    if call.index != 0 or call.function is None:
        return ""
    return str(call.function.arguments or "")


def _post(path: str, body: dict[str, Any], client: openai.OpenAI | None = None) -> dict[str, Any]:
    """POST `body` to an endpoint through the SDK and return the reply's JSON as it came.

    The SDK's generic `post` (its documented way to call any endpoint) still does the HTTP, authentication,
    timeouts and error statuses (`openai.APIStatusError` and the rest); what it skips is what the typed
    `chat.completions.create` and `moderations.create` add: walking every parameter against the SDK's type
    definitions and building a pydantic object for every field of the reply: measured ~1 ms of CPU per
    lesson request and ~1.8 ms per moderation of a lesson (a flag, a score and input types for each of 13
    categories, per passage), for the few fields read here. The answer is still validated by `_validated`.
    """
    try:
        reply = (client or _client()).post(path, body=body, cast_to=object)
    except openai.OpenAIError as error:
        raise _failure_from_error(error) from error
    if not isinstance(reply, dict):
        raise AttemptFailed(Outcome.INVALID_OUTPUT, f"the reply is not a JSON object: {str(reply)[:200]!r}")
    return reply


def _open_stream(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Open a streamed chat completion; each item is one chunk's JSON. Errors before the first chunk (status,
    connection) are AttemptFailed, so they are retried like any call."""
    try:
        stream = _client().post(
            CHAT_PATH, body=body, cast_to=object, stream=True, stream_cls=openai.Stream[object]
        )
    except openai.OpenAIError as error:
        raise _failure_from_error(error) from error
    return (_object(chunk) for chunk in stream)


def _stream_piece(chunk: dict[str, Any]) -> str:
    """The text one streamed chunk adds; a refusal or the content filter ends the answer as an error."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices:
        return ""  # the last chunk carries only the usage
    choice = _object(choices[0])
    delta = _object(choice.get("delta"))
    if delta.get("refusal") or choice.get("finish_reason") == "content_filter":
        raise AttemptFailed(Outcome.REFUSAL, "refused while answering", retryable=False)
    if choice.get("finish_reason") == "length":
        raise AttemptFailed(Outcome.INVALID_OUTPUT, "truncated: the answer reached the token limit")
    content = delta.get("content")
    return content if isinstance(content, str) else ""


def _validated(prompt: Prompt[AnswerT], text: str) -> AnswerT:
    """`text` validated strictly against the prompt's schema; first made JSON if it holds a JSON object
    leniently. The prompt's facts are the validation context: a quiz's passages are checked against its lessons."""
    try:
        return prompt.schema.model_validate_json(text, context=prompt.facts)
    except ValidationError as error:
        if not any(problem["type"] == "json_invalid" for problem in error.errors()):
            raise AttemptFailed(
                Outcome.INVALID_OUTPUT, f"the reply does not match the schema: {error}"
            ) from error
    lenient = lenient_json(text)
    if lenient is None:
        raise AttemptFailed(Outcome.INVALID_OUTPUT, f"the reply is not JSON: {text[:200]!r}")
    try:
        return prompt.schema.model_validate_json(lenient, context=prompt.facts)
    except ValidationError as error:
        raise AttemptFailed(
            Outcome.INVALID_OUTPUT, f"the reply does not match the schema: {error}"
        ) from error


def lenient_json(text: str) -> str | None:
    """The JSON object a reply holds, as strict JSON, or None: read the way real servers write it (raw
    newlines and tabs inside strings; the object in a ```json fence, or between prose before and after)."""
    candidates = [text, *(match.group(1) for match in FENCED_BLOCK.finditer(text))]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate, strict=False)  # strict=False: control characters inside strings
        except ValueError:
            continue
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False)
    return None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the reply, or an empty one when the field is missing or of another type."""
    return value if isinstance(value, dict) else {}


def _usage(usage: Any) -> Usage:
    usage = _object(usage)
    return Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=_object(usage.get("prompt_tokens_details")).get("cached_tokens") or 0,
    )


def _moderations(inputs: list[str]) -> Reply[list[ModerationResult]]:
    body = {"model": settings.OPENAI_MODERATION_MODEL, "input": inputs}
    response = _post(MODERATIONS_PATH, body, _moderation_client())
    results = response.get("results")
    if not isinstance(results, list) or len(results) != len(inputs):
        raise AttemptFailed(Outcome.INVALID_OUTPUT, "one moderation result per input was expected")
    model = str(response.get("model") or settings.OPENAI_MODERATION_MODEL)
    return Reply(
        [_moderation_result(text, result, model) for text, result in zip(inputs, results, strict=True)],
        Usage(),
    )


def _moderation_result(text: str, result: Any, model: str) -> ModerationResult:
    if not isinstance(result, dict) or not isinstance(result.get("flagged"), bool):
        raise AttemptFailed(Outcome.INVALID_OUTPUT, "a moderation result without its verdict")
    flagged_names = tuple(name for name, hit in _object(result.get("categories")).items() if hit)
    scores = _object(result.get("category_scores"))
    return ModerationResult(text, result["flagged"], flagged_names, scores, model)


def _failure_from_error(error: openai.OpenAIError) -> AttemptFailed:
    if isinstance(error, openai.APITimeoutError):
        return AttemptFailed(Outcome.TIMEOUT, f"no answer within {settings.LLM_TIMEOUT_SECONDS}s")
    if isinstance(error, openai.APIConnectionError):
        return AttemptFailed(Outcome.CONNECTION_ERROR, f"connection failed: {error}")
    if not isinstance(error, openai.APIStatusError):
        return AttemptFailed(Outcome.ERROR, str(error), retryable=False)
    status, wait = error.status_code, retry_after_seconds(error.response.headers)
    message = f"HTTP {status}: {error.message}"
    if status == 429:
        # An exhausted quota or budget does not come back by waiting a few seconds.
        exhausted = error.code == "insufficient_quota"
        return AttemptFailed(Outcome.RATE_LIMITED, message, retryable=not exhausted, retry_after=wait)
    if status >= 500 and not INVALID_REQUEST_WORDS.search(error.message):
        return AttemptFailed(Outcome.SERVER_ERROR, message, retry_after=wait)
    if status in {408, 409}:  # transient (the SDK's own retry policy agrees)
        return AttemptFailed(Outcome.ERROR, message, retry_after=wait)
    # The server refuses this request for good: a wrong key, address, model or a request shape it does not take.
    return AttemptFailed(Outcome.REJECTED, message, retryable=False)


# --------------------------------------------------------------------------------------------------------
# Probes for `manage.py llm_doctor`: one call each, never retried nor recorded, the settings under test given.
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe(Generic[RawT]):
    value: RawT
    usage: Usage
    seconds: float
    finish_reason: str = ""


def _timed(send: Callable[[], RawT]) -> tuple[RawT, float]:
    started = time.monotonic()
    try:
        return send(), time.monotonic() - started
    except AttemptFailed as failure:
        raise LLMError(failure.outcome, failure.message) from failure


def probe_models() -> Probe[list[str]]:
    """The model names the endpoint lists."""

    def send() -> dict[str, Any]:
        try:
            reply = _client().get(MODELS_PATH, cast_to=object)
        except openai.OpenAIError as error:
            raise _failure_from_error(error) from error
        return _object(reply)

    reply, seconds = _timed(send)
    data = reply.get("data")
    names = [str(_object(item).get("id")) for item in data] if isinstance(data, list) else []
    return Probe(names, Usage(), seconds)


def probe_structured(
    prompt: Prompt[AnswerT],
    *,
    form: str,
    token_parameter: str,
    max_tokens: int,
    length_limits: bool | None = None,
) -> Probe[AnswerT]:
    """`prompt` answered once in `form`, leniently read and strictly validated as `complete` does."""
    body = chat_body(
        prompt, form=form, token_parameter=token_parameter, max_tokens=max_tokens, length_limits=length_limits
    )

    def send() -> tuple[AnswerT, Usage]:
        reply = _answer(_post(CHAT_PATH, body), form=form)
        return _validated(prompt, reply.value), reply.usage

    (answer, usage), seconds = _timed(send)
    return Probe(answer, usage, seconds)


def probe_text(*, messages: list[dict[str, str]], token_parameter: str, max_tokens: int) -> Probe[str]:
    """A plain-text reply, with its finish reason and token counts (to see whether the cap was honoured)."""
    body = {"model": settings.OPENAI_MODEL, "messages": messages, token_parameter: max_tokens}
    completion, seconds = _timed(lambda: _post(CHAT_PATH, body))
    choices = completion.get("choices")
    choice = _object(choices[0]) if isinstance(choices, list) and choices else {}
    text = _object(choice.get("message")).get("content")
    usage = _usage(completion.get("usage"))
    return Probe(
        text if isinstance(text, str) else "", usage, seconds, str(choice.get("finish_reason") or "")
    )


def probe_stream(*, messages: list[dict[str, str]], token_parameter: str, max_tokens: int) -> Probe[int]:
    """A streamed reply: how many chunks came, `seconds` until the first one."""

    def send() -> tuple[int, float]:
        started, first, chunks = time.monotonic(), 0.0, 0
        try:
            stream = _client().chat.completions.create(
                model=settings.OPENAI_MODEL,
                messages=messages,  # type: ignore[arg-type]
                stream=True,
                extra_body={token_parameter: max_tokens},
            )
            for _chunk in stream:
                chunks += 1
                first = first or time.monotonic() - started
        except openai.OpenAIError as error:
            raise _failure_from_error(error) from error
        return chunks, first

    (chunks, first), _seconds = _timed(send)
    return Probe(chunks, Usage(), first)


def probe_moderation(*, inputs: list[str]) -> Probe[list[ModerationResult]]:
    """The configured moderations endpoint (OPENAI_BASE_URL's, or MODERATION_BASE_URL) asked once."""
    reply, seconds = _timed(lambda: _moderations(inputs))
    return Probe(reply.value, Usage(), seconds)
