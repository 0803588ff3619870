"""What a person typed as a topic: cleaned for the prompt, and folded into a key that finds equal requests."""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable

from django.conf import settings

TOPIC_EMPTY = "Tell us what you would like to learn about."
TOPIC_TOO_LONG = "Please keep the topic to {limit} characters or fewer."
TOPIC_BAD_CHARACTERS = "The topic contains invisible control characters; please type it again."

# Characters that control how text is shown rather than what it says: control codes, and the bidirectional
# overrides that make a string read differently from what it holds.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The characters refused above and by the request form, as code point ranges (Unicode's stability policy keeps
# these categories fixed): control codes (Cc), the overrides, surrogates (Cs) and private use (Co).
REFUSED_RANGES = (
    (0x00, 0x1F), (0x7F, 0x9F), (0x202A, 0x202E), (0x2066, 0x2069), (0xD800, 0xDFFF), (0xE000, 0xF8FF),
    (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
)  # fmt: skip
KEY_WORD = re.compile(r"[\w+#]+")  # keeps "c++" and "c#" apart from "c"


class TopicError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def topic_normalise(raw: str) -> str:
    """The topic as the prompt will quote it: NFC, whitespace collapsed, no control characters, length-limited."""
    text = unicodedata.normalize("NFC", raw)
    if any(_is_control(character) for character in text):
        raise TopicError(TOPIC_BAD_CHARACTERS)
    text = " ".join(text.split())
    if not text:
        raise TopicError(TOPIC_EMPTY)
    limit = settings.COURSE_TOPIC_MAX_LENGTH
    if len(text) > limit:
        raise TopicError(TOPIC_TOO_LONG.format(limit=limit))
    return text


def topic_key(topic: str) -> str:
    """Fold case, width and punctuation, so "Roman history!" and "roman  HISTORY" share one course."""
    folded = unicodedata.normalize("NFKC", topic).casefold()
    return " ".join(KEY_WORD.findall(folded))[: settings.COURSE_TOPIC_MAX_LENGTH]


def _is_control(character: str) -> bool:
    if character.isspace():
        return False  # tabs and newlines from a pasted topic simply become spaces
    return unicodedata.category(character) in {"Cc", "Cs", "Co"} or character in BIDI_CONTROLS


@functools.cache
def topic_pattern() -> str:
    """What a topic may hold, as a regular expression for the API's OpenAPI document: at least one visible
    character, none of REFUSED_RANGES. Written so that Python, ECMAScript (JSON Schema's dialect, in Unicode
    mode) and Rust (schemathesis's validator) read it alike: every range is of allowed characters, so no
    surrogate is ever named (Rust has none), and characters past the BMP are written as themselves (ECMAScript
    spells them \\u{…}, Python \\U…)."""
    spaces = [(code, code) for code in range(0x3001) if chr(code).isspace()]  # none lies past U+3000
    allowed = _allowed_class(REFUSED_RANGES)
    visible = _allowed_class(sorted([*REFUSED_RANGES, *spaces]))
    return f"^{allowed}*{visible}{allowed}*$"


def _allowed_class(refused: Iterable[tuple[int, int]]) -> str:
    """A character class of every code point outside the sorted (possibly overlapping) `refused` ranges."""
    ranges, start = [], 0
    for low, high in refused:
        if low > start:
            ranges.append((start, low - 1))
        start = max(start, high + 1)
    if start <= sys.maxunicode:
        ranges.append((start, sys.maxunicode))
    return (
        "["
        + "".join(_char(low) if low == high else f"{_char(low)}-{_char(high)}" for low, high in ranges)
        + "]"
    )


def _char(code: int) -> str:
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)
