"""Reading OpenAI request bodies and writing reply bodies: messages, the response schema, prompt caching's
cached-token count, moderation results and error bodies.
"""

from __future__ import annotations

import threading
from typing import Any

JsonDict = dict[str, Any]

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

# Provider prompt caching kicks in at 1024 prompt characters here and counts in 128-token blocks.
CACHE_MIN_PREFIX_CHARS = 1024
CACHE_BLOCK_TOKENS = 128
PROMPT_CACHE_CAPACITY = 512


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
    """The schema the reply must match: strict structured outputs, JSON mode's ``schema`` (llama-cpp-python's
    extension), or the forced tool's parameters."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema") or {}
    if response_format.get("type") == "json_object" and isinstance(response_format.get("schema"), dict):
        return response_format["schema"]
    tool = forced_tool(body)
    return tool.get("parameters") or {} if tool is not None else None


def forced_tool(body: JsonDict) -> JsonDict | None:
    """The function a ``tool_choice`` names, when the request forces one of its ``tools``."""
    name = (
        ((body.get("tool_choice") or {}) if isinstance(body.get("tool_choice"), dict) else {})
        .get("function", {})
        .get("name")
    )
    for tool in body.get("tools") or []:
        function = tool.get("function") or {} if isinstance(tool, dict) else {}
        if name and function.get("name") == name:
            return function
    return None


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
