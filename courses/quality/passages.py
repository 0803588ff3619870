"""Finding a quiz question's supporting passage in a lesson: fuzzy, because a model copies text with small
slips (markdown emphasis dropped, a quote mark changed), but close enough that an invented passage fails.

Pure functions on text; the threshold is settings.QUALITY_PASSAGE_MIN_SCORE (rapidfuzz's partial ratio, 0-100).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from rapidfuzz import fuzz

from courses.rendering import heading_id

HEADING_LINE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
MARKUP = re.compile(r"[*_`#>\[\]]+")
SPACES = re.compile(r"\s+")
PASSAGE_NOT_FOUND = "question {number}: its passage is not in lesson {lesson} (match {score:.0f} < {minimum})"
LESSON_UNKNOWN = "question {number}: this week has no lesson {lesson}"


@dataclass(frozen=True)
class Section:
    heading: str  # "" for the text before the first heading
    anchor: str  # the heading's id in the rendered lesson ("" for the introduction)
    text: str


def plain(text: str) -> str:
    """Text folded for comparison: markdown markup dropped, whitespace collapsed, case folded."""
    return SPACES.sub(" ", MARKUP.sub(" ", text)).strip().casefold()


def passage_score(passage: str, text: str) -> float:
    """How well `passage` matches some stretch of `text`, 0-100."""
    needle = plain(passage)
    return float(fuzz.partial_ratio(needle, plain(text))) if needle else 0.0


def passage_found(passage: str, text: str) -> bool:
    return passage_score(passage, text) >= settings.QUALITY_PASSAGE_MIN_SCORE


def passage_problems(questions: list[tuple[int, str]], lessons: dict[int, str]) -> list[str]:
    """What is wrong with each (lesson number, passage) pair against the week's lessons' texts; empty if none."""
    problems = []
    for number, (lesson, passage) in enumerate(questions, start=1):
        text = lessons.get(lesson)
        if text is None:
            problems.append(LESSON_UNKNOWN.format(number=number, lesson=lesson))
            continue
        score = passage_score(passage, text)
        if score < settings.QUALITY_PASSAGE_MIN_SCORE:
            minimum = settings.QUALITY_PASSAGE_MIN_SCORE
            problems.append(
                PASSAGE_NOT_FOUND.format(number=number, lesson=lesson, score=score, minimum=minimum)
            )
    return problems


def sections(markdown: str) -> list[Section]:
    """The lesson cut at its headings, each heading with the id the rendered page gives it."""
    found: list[Section] = []
    heading, lines, seen = "", [], set[str]()
    for line in markdown.splitlines():
        match = HEADING_LINE.match(line)
        if match is None:
            lines.append(line)
            continue
        found.append(Section(heading, _unique(heading, seen), "\n".join(lines)))
        heading, lines = match.group(2), []
    found.append(Section(heading, _unique(heading, seen), "\n".join(lines)))
    return [section for section in found if section.heading or section.text.strip()]


def _unique(heading: str, seen: set[str]) -> str:
    """The id Python-Markdown's toc gives a heading: its slug, then slug_1, slug_2 for repeats."""
    if not heading:
        return ""
    anchor = base = heading_id(heading)
    count = 0
    while anchor in seen:
        count += 1
        anchor = f"{base}_{count}"
    seen.add(anchor)
    return anchor


def passage_section(passage: str, markdown: str) -> Section | None:
    """The section of the lesson the passage comes from (the best match), or None if no section has it."""
    best: tuple[float, Section] | None = None
    for section in sections(markdown):
        score = passage_score(passage, f"{section.heading}\n{section.text}")
        if best is None or score > best[0]:
            best = (score, section)
    if best is None or best[0] < settings.QUALITY_PASSAGE_MIN_SCORE:
        return None
    return best[1]
