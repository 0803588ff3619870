"""What a person typed as a topic: cleaned for the prompt, and folded into a key that finds equal requests."""

from __future__ import annotations

import re
import unicodedata

from django.conf import settings

TOPIC_EMPTY = "Tell us what you would like to learn about."
TOPIC_TOO_LONG = "Please keep the topic to {limit} characters or fewer."
TOPIC_BAD_CHARACTERS = "The topic contains invisible control characters; please type it again."

# Characters that control how text is shown rather than what it says: control codes, and the bidirectional
# overrides that make a string read differently from what it holds.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
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
