"""A loopback fake of the OpenAI API (chat completions, moderations, models) for tests and benchmarks.

The real ``openai`` SDK talks to it over HTTP; nothing in the SDK is patched::

    with FakeOpenAI() as fake:
        client = OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        fake.fail_next("429")
        ...
        assert fake.calls()[0]["fault"] == "429"

Chat answers are generated from the request's ``response_format`` JSON schema, so the fake knows
nothing about the app's pydantic models. Generation is deterministic per request body (and ``seed``).

Run standalone for benchmarks (serves until killed, keeps no bodies; SIGTERM prints stats to stderr)::

    python -m tests.fakes.openai_server --port 8765 --latency 0.5 --fault-rate 0.2

A standalone server is inspected with ``GET /__fake/stats`` and cleared with ``POST /__fake/reset``.
Stdlib only.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self

from tests.fakes._http import LoopbackFake, Reply, serve_until_terminated

JsonDict = dict[str, Any]
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
)
# "timeout" is left out of the random mix: each one parks a server thread for ``timeout_sleep``.
DEFAULT_RANDOM_FAULT_KINDS = tuple(kind for kind in FAULT_KINDS if kind != "timeout")
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
DEFAULT_FLAG_WORDS = frozenset({"FLAGME", "bomb-making"})
MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
FLAGGED_CATEGORIES = frozenset({"violence", "illicit"})
HOSTILE_SNIPPETS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(2)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
)
# Provider prompt caching kicks in at 1024 prompt characters here and counts in 128-token blocks.
CACHE_MIN_PREFIX_CHARS = 1024
CACHE_BLOCK_TOKENS = 128
PROMPT_CACHE_CAPACITY = 512
MAX_SCHEMA_DEPTH = 6  # beyond this, recursive schemas shrink (min array sizes, null branches)
HARD_SCHEMA_DEPTH = 40  # guard against schemas that can only recurse forever

# --------------------------------------------------------------------------- plausible text

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]+")
# Instruction words say nothing about the topic; kept as text so the list stays readable.
_STOPWORD_TEXT = """
    about above after again against also among another answer based because been before being below
    between both came come could course does doing down during each email every following from further
    generate given have having here into itself json just lesson lessons like make many more most must
    need only other over please provide really return same schema should some such than that their them
    then there these they this those through under until very want week weeks were what when where which
    while will with within would write your yours create include including using topic output teach
    explain tell describe show know
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_FALLBACK_WORDS = ("learning", "practice", "concepts", "examples", "curiosity", "structure")
_SENTENCES = (
    "{A} shapes how we think about {b} in everyday practice.",
    "A careful look at {a} reveals why {b} matters so much.",
    "Many learners first meet {a} while working with {b}.",
    "Understanding {a} makes {b} far easier to reason about.",
    "In practice, {a} and {b} are rarely separate concerns.",
    "The key insight is that {a} quietly depends on {b}.",
    "Experts often compare {a} with {b} to highlight the trade-offs.",
    "A small example of {a} shows how {b} emerges naturally.",
    "When {a} goes wrong, the cause is usually hidden in {b}.",
    "Keep {a} in mind whenever you reason about {b}.",
    "Historically, {a} grew out of questions about {b}.",
    "Notice how {a} changes once {b} enters the picture.",
)
_SECTION_TITLES = (
    "Why {A} matters",
    "Core ideas behind {a}",
    "A worked example",
    "How {a} connects to {b}",
    "Common pitfalls",
    "Going further with {a}",
    "Putting {a} into practice",
)


def topic_words(text: str, limit: int = 24) -> list[str]:
    """Distinctive words of a prompt, in order, so generated prose sounds on-topic."""
    words: list[str] = []
    for raw in _WORD_RE.findall(text):
        word = raw.lower().strip("'-")
        if len(word) >= 4 and word not in _STOPWORDS and word not in words:
            words.append(word)
        if len(words) >= limit:
            break
    return words or list(_FALLBACK_WORDS)


def _name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z]+", name.lower()) if len(w) >= 3]


class TextMaker:
    """Sentences, titles and markdown lessons built from a prompt's words, driven by a seeded RNG."""

    def __init__(self, rng: random.Random, context: str = "") -> None:
        self.rng = rng
        self.words = topic_words(context)

    def word(self) -> str:
        return self.rng.choice(self.words)

    def pair(self, extra: Sequence[str] = ()) -> tuple[str, str]:
        """Two different words when the prompt has them ("roman limits roman" reads badly)."""
        first = self.word()
        others = [w for w in (*self.words, *extra) if w != first]
        return first, self.rng.choice(others) if others else first

    def sentence(self, extra: Sequence[str] = ()) -> str:
        first, second = self.pair(extra)
        return self.rng.choice(_SENTENCES).format(a=first, A=first.capitalize(), b=second)

    def paragraph(self, sentences: int = 5) -> str:
        return " ".join(self.sentence() for _ in range(sentences))

    def title(self) -> str:
        first, second = (word.capitalize() for word in self.pair())
        if first == second:
            return f"Understanding {first}"
        return self.rng.choice((f"{first} and {second}", f"Understanding {first}", f"{first}: {second}"))

    def question(self) -> str:
        first, second = self.pair()
        return f"Which statement best explains how {first} relates to {second}?"

    def phrase(self) -> str:
        first, second = self.pair()
        return f"{first.capitalize()} {self.rng.choice(('depends on', 'shapes', 'limits'))} {second}"

    def slug(self) -> str:
        return "-".join(self.rng.sample(self.words, k=min(3, len(self.words))))

    def url(self) -> str:
        return f"https://example.org/{self.slug()}/{self.rng.randint(1, 999)}"

    def email(self) -> str:
        return f"{self.word()}@example.org"

    def markdown_lesson(self, hostile: bool = False) -> str:
        """A ~600-900 word lesson: headings, paragraphs, a list and an Exercise section."""
        target = self.rng.randint(620, 820)
        parts = [self.paragraph(4)]
        if hostile:
            parts.append("Try this: " + " ".join(HOSTILE_SNIPPETS))
        titles = list(_SECTION_TITLES)
        self.rng.shuffle(titles)
        while _word_count(parts) < target and titles:
            parts.append(self._section(titles.pop()))
        parts.append("## Key points\n\n" + "\n".join(f"- {self.sentence()}" for _ in range(4)))
        parts.append(self._exercise())
        return "\n\n".join(parts)

    def _section(self, title_template: str) -> str:
        first, second = self.pair()
        heading = title_template.format(a=first, A=first.capitalize(), b=second)
        return f"## {heading}\n\n{self.paragraph(self.rng.randint(4, 6))}\n\n{self.paragraph(4)}"

    def _exercise(self) -> str:
        steps = "\n".join(f"{n}. {self.sentence()}" for n in range(1, 4))
        return f"## Exercise\n\nSpend twenty minutes on {self.word()}.\n\n{steps}"


def _word_count(parts: Sequence[str]) -> int:
    return sum(len(part.split()) for part in parts)


def _fit_length(text: str, min_len: int | None, max_len: int | None, filler: Callable[[], str]) -> str:
    """Pad or cut text to a schema's minLength/maxLength, cutting at a word boundary when possible."""
    while min_len and len(text) < min_len:
        text = f"{text} {filler()}"
    if max_len is not None and len(text) > max_len:
        cut = text[:max_len]
        at_space = cut.rsplit(" ", 1)[0].rstrip()
        text = at_space if len(at_space) >= max(min_len or 0, max_len // 2, 1) else cut
    return text


# --------------------------------------------------------------------------- schema -> instance


def _is_index_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("correct") or "index" in lowered


def _is_markdown_name(name: str) -> bool:
    lowered = name.lower()
    return "markdown" in lowered or lowered in {"body", "content"} or lowered.endswith(("_body", "_content"))


# Property-name words -> TextMaker method; the first matching row wins.
_STRING_KINDS = (
    (frozenset({"url", "link", "href", "uri", "website", "homepage"}), "url"),
    (frozenset({"email"}), "email"),
    (frozenset({"slug"}), "slug"),
    (frozenset({"title", "heading", "headline", "name", "label", "topic", "subject"}), "title"),
    (frozenset({"question", "prompt", "stem"}), "question"),
    (frozenset({"option", "choice", "answer", "distractor"}), "phrase"),
    (frozenset({"tag", "keyword"}), "word"),
)


def _name_tokens(name: str) -> set[str]:
    """``readingURL``/``reading_urls`` -> {"reading", "url"}: whole words, so "security" is not a URI."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()
    return {_singular(word) for word in re.split(r"[^a-z]+", spaced) if word}


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


class SchemaFaker:
    """Builds a JSON instance that satisfies a (strict, pydantic-style) JSON schema."""

    def __init__(self, root: JsonDict, text: TextMaker, *, hostile: bool = False) -> None:
        self.root = root
        self.text = text
        self.rng = text.rng
        self.hostile = hostile

    def generate(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        if depth > HARD_SCHEMA_DEPTH or not isinstance(schema, dict):
            return None
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self.rng.choice(schema["enum"])
        variants = schema.get("anyOf") or schema.get("oneOf")
        if variants:
            return self.generate(self._pick_variant(variants, depth), name, depth)
        builders = {
            "object": self._object,
            "array": self._array,
            "string": self._string,
            "integer": self._integer,
            "number": self._number,
            "boolean": self._boolean,
        }
        builder = builders.get(_schema_type(schema))
        return builder(schema, name, depth) if builder else None

    def resolve(self, schema: JsonDict) -> JsonDict:
        """Follow ``$ref`` and merge ``allOf`` so builders only see plain schemas."""
        for _ in range(HARD_SCHEMA_DEPTH):
            if "$ref" in schema:
                siblings = {k: v for k, v in schema.items() if k != "$ref"}
                schema = {**self._lookup(schema["$ref"]), **siblings}
            elif "allOf" in schema:
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    merged = {**self.resolve(part), **merged}
                schema = merged
            else:
                return schema
        return schema

    def _lookup(self, ref: str) -> JsonDict:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node: Any = self.root
        for token in filter(None, ref[1:].split("/")):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node if isinstance(node, dict) else {}

    def _pick_variant(self, variants: list[Any], depth: int) -> Any:
        non_null = [v for v in variants if _schema_type(self.resolve(v)) != "null"]
        if non_null and (depth <= MAX_SCHEMA_DEPTH or len(non_null) == len(variants)):
            return non_null[0]
        return {"type": "null"}  # deep in a recursive schema: stop with the null branch

    def _object(self, schema: JsonDict, name: str, depth: int) -> JsonDict:
        properties = schema.get("properties") or {}
        result = {key: self.generate(sub, key, depth + 1) for key, sub in properties.items()}
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, dict):
            for _ in range(self.rng.randint(1, 3)):
                result[self.text.word()] = self.generate(extra, name, depth + 1)
        self._fix_indexes(result, properties)
        return result

    def _fix_indexes(self, result: JsonDict, properties: JsonDict) -> None:
        """Index-like integers must point into a sibling ``options``-style list."""
        options = next(
            (result[k] for k in ("options", "choices", "answers") if isinstance(result.get(k), list)), None
        )
        if not options:
            return
        for key, value in result.items():
            if isinstance(value, int) and not isinstance(value, bool) and _is_index_name(key):
                low, high = _int_bounds(self.resolve(properties.get(key) or {}))
                high = len(options) - 1 if high is None else min(high, len(options) - 1)
                result[key] = max(low or 0, min(value, high))

    def _array(self, schema: JsonDict, name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        if prefix:
            return [self.generate(sub, name, depth + 1) for sub in prefix]
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        count = self._item_count(schema, depth)
        values: list[Any] = []
        for _ in range(count * 4):  # a few retries so items come out distinct when possible
            if len(values) == count:
                break
            value = self.generate(items, _singular(name), depth + 1)
            if value not in values:
                values.append(value)
        while len(values) < count and not schema.get("uniqueItems"):
            values.append(self.generate(items, _singular(name), depth + 1))
        return values

    def _item_count(self, schema: JsonDict, depth: int) -> int:
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        if depth > MAX_SCHEMA_DEPTH:
            return low
        high = max(low, 2) + 2 if high is None else int(high)
        preferred_low = min(max(low, 2), high)  # two or more items look more like real output
        return self.rng.randint(preferred_low, high)

    def _string(self, schema: JsonDict, name: str, depth: int) -> str:
        text = self._string_for(schema, name)
        return _fit_length(text, schema.get("minLength"), schema.get("maxLength"), self.text.word)

    def _string_for(self, schema: JsonDict, name: str) -> str:
        by_format = self._formatted(schema.get("format"))
        if by_format is not None:
            return by_format
        if _is_markdown_name(name):
            return self.text.markdown_lesson(hostile=self.hostile)
        tokens = _name_tokens(name)
        for words, method in _STRING_KINDS:
            if tokens & words:
                return str(getattr(self.text, method)())
        return self.text.sentence(_name_words(name))

    def _formatted(self, fmt: Any) -> str | None:
        rng = self.rng
        if fmt == "date-time":
            return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"
        if fmt == "date":
            return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if fmt in {"uri", "url", "iri"}:
            return self.text.url()
        if fmt == "email":
            return self.text.email()
        if fmt == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return None

    def _integer(self, schema: JsonDict, name: str, depth: int) -> int:
        low, high = _int_bounds(schema)
        if _is_index_name(name):
            start = max(low or 0, 0) if high is None or high >= 0 else high
            value = start if high is None else self.rng.randint(start, max(start, high))
        else:
            low = (min(1, high) if high is not None else 1) if low is None else low
            high = low + 9 if high is None else high
            value = self.rng.randint(low, max(low, high))
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0 and value % step:
            value += step - value % step
        return value

    def _number(self, schema: JsonDict, name: str, depth: int) -> float:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        low = float(low) if low is not None else (min(0.0, float(high) - 10) if high is not None else 0.0)
        high = float(high) if high is not None else low + 10
        value = round(self.rng.uniform(low, high), 2)
        if not low < value < high and ("exclusiveMinimum" in schema or "exclusiveMaximum" in schema):
            value = (low + high) / 2  # rounding landed on an excluded bound
        return value

    def _boolean(self, schema: JsonDict, name: str, depth: int) -> bool:
        return self.rng.random() < 0.5


def _schema_type(schema: JsonDict) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):  # e.g. ["string", "null"]: prefer the non-null type
        declared = next((t for t in declared if t != "null"), "null")
    if declared:
        return str(declared)
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _int_bounds(schema: JsonDict) -> tuple[int | None, int | None]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if schema.get("exclusiveMinimum") is not None:
        low = int(schema["exclusiveMinimum"]) + 1
    if schema.get("exclusiveMaximum") is not None:
        high = int(schema["exclusiveMaximum"]) - 1
    return (None if low is None else int(low)), (None if high is None else int(high))


def generate_instance(schema: JsonDict, *, seed: int = 0, context: str = "", hostile: bool = False) -> Any:
    """Public entry point: a deterministic instance of ``schema`` with prose about ``context``."""
    rng = random.Random(seed)
    return SchemaFaker(schema, TextMaker(rng, context), hostile=hostile).generate(schema)


def break_instance(instance: Any, schema: JsonDict, faker: SchemaFaker) -> Any:
    """Valid JSON that violates the schema: a required key goes missing and an array goes empty."""
    if not isinstance(instance, dict):
        return {"unexpected": "shape"}
    root = faker.resolve(schema)
    properties = root.get("properties") or {}
    broken = dict(instance)
    required = [key for key in root.get("required") or [] if key in broken]
    dropped = required[0] if required else None
    broken.pop(dropped, None)
    arrays = [
        k for k, sub in properties.items() if k in broken and _schema_type(faker.resolve(sub)) == "array"
    ]
    arrays.sort(key=lambda k: -int(faker.resolve(properties[k]).get("minItems", 0)))
    if arrays:
        broken[arrays[0]] = []
    if dropped is None and not arrays:
        broken["unexpected_field"] = True  # nothing to remove: break additionalProperties instead
    return broken


# --------------------------------------------------------------------------- request helpers


def _content_text(content: Any) -> str:
    """Message content is a string or a list of parts; only text parts count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def messages_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    return "\n".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))


def last_user_text(messages: Any) -> str:
    users = [m for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
    return _content_text(users[-1].get("content")) if users else messages_text(messages)


def response_schema(body: JsonDict) -> JsonDict | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "json_schema":
        return None
    return (response_format.get("json_schema") or {}).get("schema") or {}


def _common_prefix_len(a: str, b: str) -> int:
    """Binary search over slice comparisons: C-speed even for long prompts."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


class PromptCache:
    """Remembers earlier prompts so ``cached_tokens`` behaves like provider prompt caching."""

    def __init__(self, capacity: int = PROMPT_CACHE_CAPACITY) -> None:
        self._texts: dict[str, None] = {}  # insertion-ordered set, oldest first
        self._capacity = capacity
        self._lock = threading.Lock()

    def cached_tokens(self, text: str) -> int:
        with self._lock:
            earlier = list(self._texts)
        head = text[:CACHE_MIN_PREFIX_CHARS]
        best = max(
            (_common_prefix_len(text, old) for old in earlier if old[:CACHE_MIN_PREFIX_CHARS] == head),
            default=0,
        )
        self._remember(text)
        if best < CACHE_MIN_PREFIX_CHARS:
            return 0
        return (best // 4) // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS

    def _remember(self, text: str) -> None:
        with self._lock:
            self._texts.pop(text, None)
            self._texts[text] = None
            while len(self._texts) > self._capacity:
                self._texts.pop(next(iter(self._texts)))

    def clear(self) -> None:
        with self._lock:
            self._texts.clear()


def moderation_inputs(raw: Any) -> list[str]:
    """``input`` is a string, a list of strings, or one multimodal input given as a list of parts."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return list(raw)
    return [_content_text(raw)]


def moderation_result(text: str, flag_words: frozenset[str]) -> JsonDict:
    lowered = text.lower()
    flagged = any(word.lower() in lowered for word in flag_words)
    categories = {name: flagged and name in FLAGGED_CATEGORIES for name in MODERATION_CATEGORIES}
    return {
        "flagged": flagged,
        "categories": categories,
        "category_scores": {name: 0.97 if hit else 0.0001 for name, hit in categories.items()},
        "category_applied_input_types": {name: ["text"] for name in MODERATION_CATEGORIES},
    }


def error_body(message: str, error_type: str, code: str | None) -> JsonDict:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


@dataclass(slots=True)
class FaultRule:
    """``fail_when``: fault chat calls mentioning ``substring``; ``remaining`` None means forever."""

    substring: str
    kind: str
    remaining: int | None


# --------------------------------------------------------------------------- the fake


class FakeOpenAI(LoopbackFake):
    """OpenAI chat completions + moderations + models on loopback, with knobs safe to change live.

    Knobs: ``latency``, ``fault_rate`` + ``fault_kinds``, ``fail_next(kind, times)``,
    ``fail_when(substring, kind, times)``, ``retry_after``, ``timeout_sleep``, ``hostile``,
    ``deterministic``, ``flag_words``, ``override(fn)``, ``keep_bodies``.
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
        keep_bodies: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.model = model
        self.seed = seed
        self.keep_bodies = keep_bodies
        self._initial_latency = latency
        self._initial_moderation_latency = moderation_latency
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
        self.fault_rate = 0.0
        self.fault_kinds: list[str] = list(DEFAULT_RANDOM_FAULT_KINDS)
        self.retry_after: str = "1"
        self.timeout_sleep = 30.0
        self.hostile = False
        self.deterministic = True
        self.flag_words: frozenset[str] = DEFAULT_FLAG_WORDS
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
        finally:
            self._end()
        record["status"] = reply.status
        record["duration"] = time.monotonic() - started
        return reply

    def _route(self, method: str, path: str, raw: bytes, record: JsonDict) -> Reply:
        if method == "POST" and path == CHAT_PATH:
            return self._chat(raw, record)
        if method == "POST" and path == MODERATIONS_PATH:
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
        if body.get("stream"):
            message = "The fake does not implement streaming."
            return Reply(400, error_body(message, "invalid_request_error", "unsupported"))
        started = time.monotonic()
        fault = self._take_fault(messages_text(body["messages"]))
        record["fault"] = fault
        if fault in ERROR_FAULTS or fault == "disconnect":
            self._sleep(self.latency)
            return self._error_reply(fault) if fault in ERROR_FAULTS else Reply(None)
        reply = Reply(200, self._completion(body, raw, fault), {"x-request-id": f"req_{uuid.uuid4().hex}"})
        # `latency` is how long a call takes: the fake's own work of writing the reply counts within it, so a
        # burst of calls is not slowed by the fake generating every reply after its sleep.
        self._sleep(self.latency - (time.monotonic() - started))
        if fault == "timeout":
            self._sleep(self.timeout_sleep)  # the client's timeout should fire first
        return reply

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
        content = instance if isinstance(instance, str) else json.dumps(instance)
        if fault == "truncated":
            return {**message, "content": content[: max(1, len(content) // 2)]}, "length"
        return {**message, "content": content}, "stop"

    def _faker(self, body: JsonDict, raw: bytes) -> SchemaFaker:
        if self.deterministic:
            digest = hashlib.sha256(str(self.seed).encode() + b"\0" + raw).digest()
            seed = int.from_bytes(digest[:8], "big")
        else:
            with self._lock:
                seed = self._rng.getrandbits(64)
        rng = random.Random(seed)
        text = TextMaker(rng, last_user_text(body["messages"]))
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
        completion_tokens = max(1, len(message["content"] or message["refusal"] or "") // 4)
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
        keep_bodies=args.keep_bodies,
    )
    fake.fault_rate = args.fault_rate
    fake.fault_kinds = [kind for kind in args.fault_kinds.split(",") if kind]
    for kind in fake.fault_kinds:
        _check_kind(kind)
    fake.timeout_sleep = args.timeout_sleep
    fake.retry_after = args.retry_after
    fake.hostile = args.hostile
    serve_until_terminated(fake)
    print(f"stats {json.dumps(fake.stats())}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
