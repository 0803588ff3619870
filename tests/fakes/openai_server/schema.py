"""A JSON schema in, an instance of it out: how the fake answers structured-output requests without knowing
the app's pydantic models; and how it breaks one for the "invalid_schema" fault.
"""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

from tests.fakes.openai_server.protocol import JsonDict, last_user_text, messages_text, response_schema
from tests.fakes.openai_server.text import TextMaker, fit_length, name_words, quoted_sources

QUOTE_WORDS = frozenset({"passage", "quote", "excerpt", "evidence"})

MAX_SCHEMA_DEPTH = 6  # beyond this, recursive schemas shrink (min array sizes, null branches)
HARD_SCHEMA_DEPTH = 40  # guard against schemas that can only recurse forever


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
        self._fix_quotes(result, properties)
        return result

    def _fix_quotes(self, result: JsonDict, properties: JsonDict) -> None:
        """A quotation field copies a sentence of a document the prompt quotes; a sibling integer named after
        that kind of document (``lesson`` for ``<<<LESSON 2``) says which one."""
        for key, value in result.items():
            if not isinstance(value, str) or not _name_tokens(key) & QUOTE_WORDS:
                continue
            source, sentence = self.text.quote()
            sub = self.resolve(properties.get(key) or {})
            result[key] = fit_length(sentence, sub.get("minLength"), sub.get("maxLength"), self.text.word)
            if source is None:
                continue
            for other, number in result.items():
                if (
                    isinstance(number, int)
                    and not isinstance(number, bool)
                    and source[0] in _name_tokens(other)
                ):
                    result[other] = source[1]

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
        return fit_length(text, schema.get("minLength"), schema.get("maxLength"), self.text.word)

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
        return self.text.sentence(name_words(name))

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


def reply_for(body: JsonDict, *, seed: int = 0) -> Any:
    """What the fake would answer to a chat request `body` asking for a JSON schema (passages quoting the
    documents its messages hold), for an override that changes only part of a reply."""
    schema = response_schema(body)
    if schema is None:
        raise ValueError("the request asks for no JSON schema")
    messages = body["messages"]
    text = TextMaker(random.Random(seed), last_user_text(messages), quoted_sources(messages_text(messages)))
    return SchemaFaker(schema, text).generate(schema)


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
