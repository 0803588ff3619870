"""The fake itself: a LoopbackFake answering chat completions, moderations and models, with its knobs, and
its standalone command line (``python -m tests.fakes.openai_server``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import re
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self

from tests.fakes._http import LoopbackFake, Reply, serve_until_terminated
from tests.fakes.openai_server.protocol import (
    DEFAULT_FLAG_WORDS,
    JsonDict,
    PromptCache,
    error_body,
    forced_tool,
    last_user_text,
    messages_text,
    moderation_inputs,
    moderation_result,
    response_schema,
)
from tests.fakes.openai_server.schema import SchemaFaker, break_instance
from tests.fakes.openai_server.text import TextMaker, quoted_sources

Override = Callable[[JsonDict], Any]

CHAT_PATH = "/v1/chat/completions"
MODERATIONS_PATH = "/v1/moderations"
MODELS_PATH = "/v1/models"
STATS_PATH = "/__fake/stats"
RESET_PATH = "/__fake/reset"

FAULT_KINDS = (
    "429",
    "500",
    "503",
    "timeout",
    "truncated",
    "invalid_schema",
    "refusal",
    "not_json",
    "disconnect",
    "stream_cut",
)
# "timeout" is left out of the random mix: each one parks a server thread for ``timeout_sleep``; "stream_cut"
# (half a streamed answer, then the connection drops) only means something to streamed calls.
DEFAULT_RANDOM_FAULT_KINDS = tuple(kind for kind in FAULT_KINDS if kind not in {"timeout", "stream_cut"})
# status, message, type, code — shaped like the real API's error bodies.
ERROR_FAULTS: dict[str, tuple[int, str, str, str]] = {
    "429": (
        429,
        "Rate limit reached for requests. Please try again later.",
        "requests",
        "rate_limit_exceeded",
    ),
    "500": (500, "The server had an error while processing your request.", "server_error", "server_error"),
    "503": (503, "The engine is currently overloaded, please try again later.", "server_error", "overloaded"),
}
REFUSAL_TEXT = "I can't help with that."
# What llama-cpp-python's server (0.3.x) answers a response_format of type json_schema: a 500, not a 400.
JSON_SCHEMA_REFUSED = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}"
)
TOKEN_LIMIT_PARAMETERS = frozenset({"max_completion_tokens", "max_tokens"})
REPLY_STYLES = ("json", "raw_newlines", "fenced", "prose")


@dataclass(slots=True)
class FaultRule:
    """``fail_when``: fault chat calls mentioning ``substring``; ``remaining`` None means forever."""

    substring: str
    kind: str
    remaining: int | None


# --------------------------------------------------------------------------- the fake


class FakeOpenAI(LoopbackFake):
    """OpenAI chat completions + moderations + models on loopback, with knobs safe to change live.

    Knobs: ``latency``, ``time_to_first_token`` (alias ``first_token_latency``) + ``tokens_per_second``,
    ``fault_rate`` + ``fault_kinds``, ``fail_next(kind, times)``,
    ``fail_when(substring, kind, times)``, ``retry_after``, ``timeout_sleep``, ``hostile``,
    ``deterministic``, ``flag_words``, ``override(fn)``, ``keep_bodies``; and, to play a local server:
    ``refuse_json_schema`` (a 500 like llama-cpp-python's), ``token_limit_parameters`` (the cap parameters
    it honours on prose replies), ``moderations`` (False: /v1/moderations answers 404), ``reply_style``
    ("raw_newlines" in strings, "fenced" in a ```json block, "prose" around the object),
    ``length_limits_slowdown`` (calls whose schema has maxLength take that many times as long, as llama.cpp's
    grammar for them makes them).

    Two latency models for chat calls: fixed (``latency`` seconds per call, the default), or a model's pace
    once ``tokens_per_second`` is set: ``time_to_first_token`` seconds, then the reply's completion tokens
    at ``tokens_per_second`` (a 4,000-token outline takes far longer than a 300-token quiz). ``stream: true``
    honours either, sending the reply as server-sent events as they are
    "written" (``stream_chunk_words`` words each), then a usage chunk when ``stream_options.include_usage`` asks for one.
    Records: ``requests``, ``calls(path)``, ``in_flight``, ``max_in_flight``.
    """

    thread_name = "fake-openai"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "fake-model",
        seed: int = 0,
        latency: float = 0.0,
        moderation_latency: float | None = None,
        time_to_first_token: float = 0.0,
        tokens_per_second: float | None = None,
        keep_bodies: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.model = model
        self.seed = seed
        self.keep_bodies = keep_bodies
        self._initial_latency = latency
        self._initial_moderation_latency = moderation_latency
        self._initial_pace = (time_to_first_token, tokens_per_second)
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # wakes latency/timeout sleeps on stop()
        self._faults: deque[str] = deque()
        self._fault_rules: list[FaultRule] = []
        self._prompt_cache = PromptCache()
        self.requests: list[JsonDict] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._set_default_knobs()

    def _set_default_knobs(self) -> None:
        self.latency = self._initial_latency
        # Moderation endpoints answer far faster than chat completions; None means "same as latency".
        self.moderation_latency: float | None = self._initial_moderation_latency
        # The pace model, when tokens_per_second is set (None: every chat call takes `latency`).
        self.time_to_first_token, self.tokens_per_second = self._initial_pace
        self.stream_chunk_words = 1  # words per streamed chunk
        self.fault_rate = 0.0
        self.fault_kinds: list[str] = list(DEFAULT_RANDOM_FAULT_KINDS)
        self.retry_after: str = "1"
        self.timeout_sleep = 30.0
        self.hostile = False
        self.deterministic = True
        self.flag_words: frozenset[str] = DEFAULT_FLAG_WORDS
        self.refuse_json_schema = False
        self.token_limit_parameters: frozenset[str] = TOKEN_LIMIT_PARAMETERS
        self.moderations = True
        self.reply_style = "json"
        # As llama.cpp's grammar for string lengths: a chat call whose schema has maxLength takes this many
        # times as long (per token with the pace model, else its latency).
        self.length_limits_slowdown = 1.0
        self._override: Override | None = None
        self._rng = random.Random(self.seed)

    # ----- lifecycle

    def start(self) -> Self:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not started")
        return f"http://{self.host}:{self.port}/v1"

    # ----- knobs and inspection

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Fault the next ``times`` chat calls with ``kind`` (FIFO after already queued faults)."""
        _check_kind(kind)
        with self._lock:
            self._faults.extend([kind] * times)

    def fail_when(self, substring: str, kind: str, times: int | None = None) -> None:
        """Fault chat calls whose messages contain ``substring``; ``times=None`` means forever."""
        _check_kind(kind)
        if times is not None and times < 1:
            raise ValueError("times must be a positive count, or None for forever")
        with self._lock:
            self._fault_rules.append(FaultRule(substring, kind, times))

    def override(self, fn: Override | None) -> None:
        """``fn(request_json)`` returns the content (dict/list, or raw str) to send; None falls back."""
        self._override = fn

    def calls(self, path: str = CHAT_PATH) -> list[JsonDict]:
        with self._lock:
            return [record for record in self.requests if record["path"] == path]

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        return self._max_in_flight

    def reset(self) -> None:
        """Forget records, queued faults, rules, the prompt cache and the peak; knobs back to defaults."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._fault_rules.clear()
            self._max_in_flight = self._in_flight
            self._set_default_knobs()
        self._prompt_cache.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            faults: dict[str, int] = {}
            for record in self.requests:
                if record["fault"]:
                    faults[record["fault"]] = faults.get(record["fault"], 0) + 1
            return {"requests": len(self.requests), "max_in_flight": self._max_in_flight, "faults": faults}

    # ----- request handling (server threads)

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        path = path.split("?", 1)[0].rstrip("/")
        if path == STATS_PATH:
            return Reply(200, self.stats())
        if path == RESET_PATH and method == "POST":
            self.reset()
            return Reply(200, {"ok": True})
        started = time.monotonic()
        record = self._begin(method, path, headers, raw)
        try:
            reply = self._route(method, path, raw, record)
        except Exception as exc:  # a bug in the fake must read as one, not as a dropped socket
            traceback.print_exc()
            body = error_body(f"fake server bug: {exc!r}", "fake_server_error", "fake_bug")
            reply = Reply(500, body, {"x-should-retry": "false"})
        record["status"] = reply.status
        if reply.stream is not None:  # in flight until its last chunk is sent
            reply.stream = self._ending(reply.stream, record, started)
            return reply
        self._end()
        record["duration"] = time.monotonic() - started
        return reply

    def _ending(
        self, chunks: Iterator[bytes | None], record: JsonDict, started: float
    ) -> Iterator[bytes | None]:
        try:
            yield from chunks
        finally:
            self._end()
            record["duration"] = time.monotonic() - started

    def _route(self, method: str, path: str, raw: bytes, record: JsonDict) -> Reply:
        if method == "POST" and path == CHAT_PATH:
            return self._chat(raw, record)
        if method == "POST" and path == MODERATIONS_PATH and self.moderations:
            return self._moderation(raw)
        if method == "GET" and path == MODELS_PATH:
            return Reply(200, {"object": "list", "data": [self._model_object()]})
        if method == "GET" and path == f"{MODELS_PATH}/{self.model}":
            return Reply(200, self._model_object())
        message = f"Invalid URL ({method} {path})"
        return Reply(404, error_body(message, "invalid_request_error", "unknown_url"))

    def _begin(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> JsonDict:
        record = {
            "method": method,
            "path": path,
            "json": _parse_json(raw) if self.keep_bodies else None,
            "headers": _header_subset(headers),
            "status": None,
            "fault": None,
            "timestamp": time.time(),
            "duration": None,
        }
        with self._lock:
            self.requests.append(record)  # appended on arrival so tests see calls still in progress
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        return record

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _model_object(self) -> JsonDict:
        return {"id": self.model, "object": "model", "created": 1_700_000_000, "owned_by": "fake-openai"}

    # ----- chat completions

    def _chat(self, raw: bytes, record: JsonDict) -> Reply:
        body = _parse_json(raw)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return Reply(400, error_body("'messages' is required.", "invalid_request_error", "invalid_body"))
        if self.refuse_json_schema and (body.get("response_format") or {}).get("type") == "json_schema":
            return Reply(500, error_body(JSON_SCHEMA_REFUSED, "internal_server_error", None))
        started = time.monotonic()
        fault = self._take_fault(messages_text(body["messages"]))
        record["fault"] = fault
        if fault in ERROR_FAULTS or fault == "disconnect":
            self._sleep(self._pace()[0])
            return self._error_reply(fault) if fault in ERROR_FAULTS else Reply(None)
        completion = self._completion(body, raw, fault)
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
        if body.get("stream"):
            return Reply(200, headers=headers, stream=self._stream(body, completion, started, fault))
        # A call takes as long as the latency model says: the fake's own work of writing the reply counts
        # within it, so a burst of calls is not slowed by the fake generating every reply after its sleep.
        first_token, per_token = self._pace(body)
        tokens = completion["usage"]["completion_tokens"]
        self._sleep(first_token + tokens * per_token - (time.monotonic() - started))
        if fault == "timeout":
            self._sleep(self.timeout_sleep)  # the client's timeout should fire first
        return Reply(200, completion, headers)

    @property
    def first_token_latency(self) -> float:
        """Another name for ``time_to_first_token`` (the tutor's tests and benchmark use it)."""
        return self.time_to_first_token

    @first_token_latency.setter
    def first_token_latency(self, seconds: float) -> None:
        self.time_to_first_token = seconds

    def _pace(self, body: JsonDict | None = None) -> tuple[float, float]:
        """Seconds until the first token, and per completion token after it (for `body`'s schema)."""
        slowdown = 1.0
        if body is not None and '"maxLength"' in json.dumps(response_schema(body) or {}):
            slowdown = self.length_limits_slowdown
        if not self.tokens_per_second:
            return self.latency * slowdown, 0.0
        return self.time_to_first_token, slowdown / self.tokens_per_second

    def _stream(
        self, body: JsonDict, completion: JsonDict, started: float, fault: str | None
    ) -> Iterator[bytes | None]:
        """The completion as server-sent events, each chunk (``stream_chunk_words`` words) sent when the pace
        says its tokens are written. A "stream_cut" fault sends half the words, then drops the connection."""
        choice, usage = completion["choices"][0], completion["usage"]
        field = "refusal" if choice["message"]["refusal"] else "content"
        text = choice["message"][field] or ""
        calls, opening = choice["message"].get("tool_calls"), {}
        if calls:  # a forced tool call streams as fragments of its arguments, after its id and name
            call = calls[0]
            text = call["function"]["arguments"]
            opening = {"index": 0, "id": call["id"], "type": "function"}
            opening["function"] = {"name": call["function"]["name"], "arguments": ""}
        first_token, per_token = self._pace(body)
        words = re.findall(r"\s*\S+|\s+$", text)
        step = max(1, self.stream_chunk_words)
        pieces = ["".join(words[i : i + step]) for i in range(0, len(words), step)]
        if fault == "stream_cut":
            pieces = pieces[: len(pieces) // 2]
        head = {key: completion[key] for key in ("id", "created", "model", "system_fingerprint")}

        def event(choices: list[JsonDict], **extra: Any) -> bytes:
            chunk = {**head, "object": "chat.completion.chunk", "choices": choices, **extra}
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        def delta(piece: str) -> JsonDict:
            if calls:
                return {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            return {field: piece}

        self._sleep(started + first_token - time.monotonic())
        first = {"content": None, "tool_calls": [opening]} if calls else {field: ""}
        yield event([{"index": 0, "delta": {"role": "assistant", **first}, "finish_reason": None}])
        sent = 0  # characters so far: tokens are counted as the usage counts them (4 characters each), so the
        # stream ends when a non-streamed reply of the same size would
        for piece in pieces:
            sent += len(piece)
            self._sleep(started + first_token + sent / 4 * per_token - time.monotonic())
            yield event([{"index": 0, "delta": delta(piece), "finish_reason": None}])
        if fault == "stream_cut":
            yield None
            return
        if fault == "timeout":
            self._sleep(self.timeout_sleep)
        yield event([{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}])
        if (body.get("stream_options") or {}).get("include_usage"):
            yield event([], usage=usage)
        yield b"data: [DONE]\n\n"

    def _take_fault(self, text: str) -> str | None:
        """Targeted rules first, then the FIFO queue, then the random fault rate."""
        with self._lock:
            for rule in self._fault_rules:
                if rule.substring in text:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        self._fault_rules = [r for r in self._fault_rules if r.remaining != 0]
                    return rule.kind
            if self._faults:
                return self._faults.popleft()
            if self.fault_rate > 0 and self.fault_kinds and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_kinds)
        return None

    def _error_reply(self, fault: str) -> Reply:
        status, message, error_type, code = ERROR_FAULTS[fault]
        headers = {}
        if fault == "429":
            seconds = str(self.retry_after)
            headers = {"Retry-After": seconds, "x-ratelimit-remaining-requests": "0"}
            with contextlib.suppress(ValueError):  # an HTTP-date Retry-After has no ms twin
                headers["retry-after-ms"] = str(int(float(seconds) * 1000))
        return Reply(status, error_body(message, error_type, code), headers)

    def _completion(self, body: JsonDict, raw: bytes, fault: str | None) -> JsonDict:
        message, finish_reason = self._assistant_message(body, raw, fault)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or self.model),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": self._usage(messages_text(body["messages"]), message),
            "system_fingerprint": "fp_fake",
        }

    def _assistant_message(self, body: JsonDict, raw: bytes, fault: str | None) -> tuple[JsonDict, str]:
        message: JsonDict = {"role": "assistant", "content": None, "refusal": None}
        if fault == "refusal":
            return {**message, "refusal": REFUSAL_TEXT}, "stop"
        faker = self._faker(body, raw)
        if fault == "not_json":
            prose = "Sure! Here is what I found. " + faker.text.paragraph(3)
            return {**message, "content": prose}, "stop"
        instance = self._instance(body, faker)
        if fault == "invalid_schema":
            instance = break_instance(instance, faker.root, faker)
        content = instance if isinstance(instance, str) else self._styled(instance)
        if fault == "truncated":
            return {**message, "content": content[: max(1, len(content) // 2)]}, "length"
        cap = self._token_cap(body)
        if isinstance(instance, str) and cap is not None and len(content) > cap * 4:
            return {**message, "content": content[: cap * 4]}, "length"
        tool = forced_tool(body)
        if tool is not None and not isinstance(instance, str):
            call = {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function"}
            call["function"] = {"name": tool.get("name"), "arguments": content}
            return {**message, "tool_calls": [call]}, "tool_calls"
        return {**message, "content": content}, "stop"

    def _styled(self, instance: Any) -> str:
        """The JSON reply as ``reply_style`` says a sloppy server writes it."""
        content = json.dumps(instance)
        if (
            self.reply_style == "raw_newlines"
        ):  # escaped newlines inside strings written raw, as small models do
            return content.replace("\\n", "\n")
        if self.reply_style == "fenced":
            return f"```json\n{content}\n```"
        if self.reply_style == "prose":
            return f"Here is the JSON you asked for:\n{content}\nI hope it helps!"
        return content

    def _token_cap(self, body: JsonDict) -> int | None:
        caps = [body[name] for name in sorted(self.token_limit_parameters) if isinstance(body.get(name), int)]
        return min(caps) if caps else None

    def _faker(self, body: JsonDict, raw: bytes) -> SchemaFaker:
        if self.deterministic:
            digest = hashlib.sha256(str(self.seed).encode() + b"\0" + raw).digest()
            seed = int.from_bytes(digest[:8], "big")
        else:
            with self._lock:
                seed = self._rng.getrandbits(64)
        rng = random.Random(seed)
        text = TextMaker(
            rng, last_user_text(body["messages"]), quoted_sources(messages_text(body["messages"]))
        )
        return SchemaFaker(response_schema(body) or {}, text, hostile=self.hostile)

    def _instance(self, body: JsonDict, faker: SchemaFaker) -> Any:
        override = self._override
        custom = override(body) if override else None
        if custom is not None:
            return custom
        schema = response_schema(body)
        if schema is not None:
            return faker.generate(schema)
        if (body.get("response_format") or {}).get("type") == "json_object":
            return {"answer": faker.text.sentence()}
        return faker.text.paragraph(3)  # plain text request: prose content

    def _usage(self, prompt: str, message: JsonDict) -> JsonDict:
        prompt_tokens = max(1, len(prompt) // 4)
        completion_tokens = max(
            1, len(message["content"] or message["refusal"] or json.dumps(message.get("tool_calls"))) // 4
        )
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {
                "cached_tokens": self._prompt_cache.cached_tokens(prompt),
                "audio_tokens": 0,
            },
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    # ----- moderations

    def _moderation(self, raw: bytes) -> Reply:
        body = _parse_json(raw)
        if not isinstance(body, dict) or "input" not in body:
            return Reply(400, error_body("'input' is required.", "invalid_request_error", "invalid_body"))
        self._sleep(self.latency if self.moderation_latency is None else self.moderation_latency)
        words = self.flag_words
        return Reply(
            200,
            {
                "id": f"modr-{uuid.uuid4().hex}",
                "model": str(body.get("model") or "omni-moderation-latest"),
                "results": [moderation_result(text, words) for text in moderation_inputs(body["input"])],
            },
        )


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _header_subset(headers: dict[str, str]) -> dict[str, str]:
    """Headers worth asserting on: auth, content type, SDK metadata (x-stainless-*, retry count)."""
    keep = {"authorization", "content-type", "user-agent", "idempotency-key"}
    lowered = {name.lower(): value for name, value in headers.items()}
    return {k: v for k, v in lowered.items() if k in keep or k.startswith(("x-", "openai-"))}


# --------------------------------------------------------------------------- standalone


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every chat/moderation call"
    )
    parser.add_argument(
        "--time-to-first-token", type=float, default=0.0, help="seconds before the first token (pace model)"
    )
    parser.add_argument(
        "--tokens-per-second",
        type=float,
        default=None,
        help="completion tokens written per second after the first; replaces --latency for chat calls",
    )
    parser.add_argument(
        "--moderation-latency",
        type=float,
        default=None,
        help="seconds per moderation call (default: --latency)",
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of chat calls answered with a fault"
    )
    parser.add_argument(
        "--fault-kinds",
        default=",".join(DEFAULT_RANDOM_FAULT_KINDS),
        help=f"comma-separated subset of {','.join(FAULT_KINDS)}",
    )
    parser.add_argument("--timeout-sleep", type=float, default=30.0)
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--hostile", action="store_true", help="put XSS payloads in markdown bodies")
    parser.add_argument("--keep-bodies", action="store_true", help="record full request bodies")
    # Playing a local server (llama-cpp-python's quirks), e.g. to try `manage.py llm_doctor` against it.
    parser.add_argument("--refuse-json-schema", action="store_true", help="answer json_schema with a 500")
    parser.add_argument(
        "--token-limit-parameters",
        default=",".join(sorted(TOKEN_LIMIT_PARAMETERS)),
        help="the token caps honoured, comma-separated",
    )
    parser.add_argument("--no-moderations", action="store_true", help="answer /v1/moderations with 404")
    parser.add_argument("--reply-style", default="json", choices=REPLY_STYLES)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse_args(argv)
    fake = FakeOpenAI(
        host=args.host,
        port=args.port,
        model=args.model,
        seed=args.seed,
        latency=args.latency,
        moderation_latency=args.moderation_latency,
        time_to_first_token=args.time_to_first_token,
        tokens_per_second=args.tokens_per_second,
        keep_bodies=args.keep_bodies,
    )
    fake.fault_rate = args.fault_rate
    fake.fault_kinds = [kind for kind in args.fault_kinds.split(",") if kind]
    for kind in fake.fault_kinds:
        _check_kind(kind)
    fake.timeout_sleep = args.timeout_sleep
    fake.retry_after = args.retry_after
    fake.hostile = args.hostile
    fake.refuse_json_schema = args.refuse_json_schema
    fake.token_limit_parameters = frozenset(name for name in args.token_limit_parameters.split(",") if name)
    fake.moderations = not args.no_moderations
    fake.reply_style = args.reply_style
    serve_until_terminated(fake)
    print(f"stats {json.dumps(fake.stats())}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
