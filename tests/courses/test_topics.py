from __future__ import annotations

import sys
import unicodedata
from typing import Any

import pytest

from courses.topics import (
    BIDI_CONTROLS,
    REFUSED_RANGES,
    TOPIC_BAD_CHARACTERS,
    TOPIC_EMPTY,
    TOPIC_TOO_LONG,
    TopicError,
    topic_key,
    topic_normalise,
)


def test_it_collapses_whitespace_and_keeps_the_words_as_typed() -> None:
    assert topic_normalise("  Roman \t history\n of  the Republic ") == "Roman history of the Republic"


def test_it_composes_unicode_so_equal_looking_topics_are_equal() -> None:
    assert topic_normalise("Cafe\u0301 culture") == "Café culture"


@pytest.mark.parametrize("raw", ["", "   ", "\n\t"])
def test_it_rejects_an_empty_topic(raw: str) -> None:
    with pytest.raises(TopicError) as raised:
        topic_normalise(raw)
    assert raised.value.message == TOPIC_EMPTY


def test_it_rejects_a_topic_over_the_limit(settings: Any) -> None:
    settings.COURSE_TOPIC_MAX_LENGTH = 20

    assert topic_normalise("x" * 20) == "x" * 20
    with pytest.raises(TopicError) as raised:
        topic_normalise("x" * 21)
    assert raised.value.message == TOPIC_TOO_LONG.format(limit=20)


@pytest.mark.parametrize("raw", ["null\x00byte", "bell\x07", "escape\x1b[31m", "evil\u202egnp.exe"])
def test_it_rejects_control_characters(raw: str) -> None:
    with pytest.raises(TopicError) as raised:
        topic_normalise(raw)
    assert raised.value.message == TOPIC_BAD_CHARACTERS


def test_its_key_folds_case_width_and_punctuation() -> None:
    assert topic_key("Roman History!") == topic_key("roman  HISTORY") == "roman history"
    assert topic_key("ＲＯＭＡＮ history?") == "roman history"
    assert topic_key("Straße") == topic_key("STRASSE")


def test_its_key_keeps_languages_whose_names_are_punctuation_apart() -> None:
    assert len({topic_key("C"), topic_key("C++"), topic_key("C#")}) == 3


def test_the_refused_ranges_are_exactly_the_characters_the_form_and_the_server_refuse() -> None:
    in_ranges = {code for low, high in REFUSED_RANGES for code in range(low, high + 1)}
    refused = {
        code
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in {"Cc", "Cs", "Co"} or chr(code) in BIDI_CONTROLS
    }
    assert in_ranges == refused
    assert max(code for code in range(sys.maxunicode + 1) if chr(code).isspace()) <= 0x3000
