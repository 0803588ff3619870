"""The offline generator: answers the pipeline's prompts from templates when no LLM is configured.

It lets a fresh install produce a structurally complete course with no network and no key. It answers from
each prompt's `facts` (the inputs its messages were built from) with JSON that then goes through the same
pydantic validation as a model's reply. Its output is deterministic, and says plainly that it was generated
offline: the course description, every week overview and every lesson open with that note.
"""

from __future__ import annotations

import hashlib
import json
import random
import textwrap
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from courses.generation.prompts import Prompt
from courses.quality import passages

OFFLINE_LABEL = "Generated offline"
OFFLINE_NOTE = (
    f"> **{OFFLINE_LABEL}.** Semester wrote this from a built-in template because no AI model is configured: "
    "it shows the shape of a course, not real teaching about the topic."
)
ENGLISH_ONLY_NOTE = " The offline generator writes in English only."

WEEK_THEMES = (
    ("Getting started with {topic}", "what {topic} is, why it matters and how this course is organised"),
    ("The vocabulary of {topic}", "the words and distinctions experts use when they talk about {topic}"),
    ("How {topic} came to be", "the history and the people behind {topic}"),
    ("Core principles of {topic}", "the few ideas everything else in {topic} rests on"),
    ("Methods and tools", "how people actually work with {topic}"),
    ("Worked examples", "{topic} step by step, on concrete cases"),
    ("Common misconceptions", "what beginners often get wrong about {topic}, and why"),
    ("Case studies", "{topic} in real situations, with their trade-offs"),
    ("Practising {topic}", "exercises that build fluency with {topic}"),
    ("{topic} and neighbouring fields", "how {topic} connects to what you already know"),
    ("Open questions", "where experts on {topic} still disagree"),
    ("Applying {topic} on your own", "planning a small project around {topic}"),
)
FINAL_WEEK = ("Review and next steps", "what you learned about {topic} and where to go from here")
LESSON_ANGLES = (
    "Key ideas",
    "An example, step by step",
    "Putting it into practice",
    "Questions worth asking",
)


def answer(prompt: Prompt[Any]) -> str:
    """The JSON text a model would have returned for `prompt`."""
    writers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "outline": _outline,
        "week": _week,
        "lesson": _lesson,
        "quiz": _quiz,
    }
    return json.dumps(writers[prompt.stage](prompt.facts), ensure_ascii=False)


def _note(language: str) -> str:
    return OFFLINE_NOTE + ("" if language == "en" else ENGLISH_ONLY_NOTE)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _short(text: str, width: int) -> str:
    return textwrap.shorten(text, width=width, placeholder="…")


def _outline(facts: dict[str, Any]) -> dict[str, Any]:
    topic, weeks, language = facts["topic"], facts["weeks"], facts["language"]
    name = _short(topic, 100)
    rng = _rng(topic, weeks, language)
    themes = [*WEEK_THEMES[: weeks - 1], FINAL_WEEK]
    return {
        "title": f"{name}: a {weeks}-week introduction",
        "description": (
            f"{OFFLINE_LABEL}: a placeholder course on {name}, in {weeks} weeks from first ideas to a small "
            "project of your own. Semester's built-in generator wrote it from a template because no AI model "
            "is configured, so the structure is real but the teaching text is not."
        ),
        "audience": "Curious beginners; no prior knowledge needed",
        "weeks": [_week_plan(name, language, theme, rng.choice((3, 4))) for theme in themes],
    }


def _week_plan(name: str, language: str, theme: tuple[str, str], lessons: int) -> dict[str, Any]:
    title, about = (part.format(topic=name) for part in theme)
    return {
        "title": title,
        "overview": f"{_note(language)}\n\nThis week is about {about}.",
        "objectives": [
            f"Explain {about} in your own words.",
            "Describe one example, from this course or from your own life, that illustrates this week's theme.",
            "Connect this week's ideas to what you learned in earlier weeks.",
        ],
        "lessons": [
            {"title": f"{title}: {angle.lower()}", "summary": f"{angle}: {about}."}
            for angle in LESSON_ANGLES[:lessons]
        ],
    }


def _week(facts: dict[str, Any]) -> dict[str, Any]:
    """A week planned again: another of the templates' themes than the one it has, chosen per instruction."""
    outline, number = json.loads(facts["outline_json"]), facts["week"]
    name = _short(outline["topic"], 100)
    current = _find(outline["weeks"], number)["title"]
    themes = [theme for theme in (*WEEK_THEMES, FINAL_WEEK) if theme[0].format(topic=name) != current]
    theme = _rng(outline["topic"], number, facts.get("instruction", "")).choice(themes)
    return {
        **_week_plan(name, facts["language"], theme, facts["lessons"]),
        **_readings(name, facts["language"]),
    }


def _readings(name: str, language: str) -> dict[str, Any]:
    """A week's suggested reading, which comes with its quiz (or with the week planned again)."""
    return {
        "reading_list": [
            {
                "title": f"{name} on Wikipedia",
                "author": "Wikipedia contributors",
                "url": f"https://{language}.wikipedia.org/wiki/Special:Search?search={quote_plus(name)}",
                "note": "A starting point: follow its references to the books it cites.",
            }
        ]
    }


def _find(items: list[dict[str, Any]], number: int) -> dict[str, Any]:
    return next(item for item in items if item["number"] == number)


def _lesson(facts: dict[str, Any]) -> dict[str, Any]:
    outline, language = json.loads(facts["outline_json"]), facts["language"]
    week = _find(outline["weeks"], facts["week"])
    plan = _find(week["lessons"], facts["lesson"])
    objectives = "\n".join(f"- {objective}" for objective in week["objectives"])
    body = f"""{_note(language)}

This lesson belongs to week {week["number"]}, *{week["title"]}*, of the course *{outline["title"]}*. \
{plan["summary"]}

## What you will learn

{objectives}

## Key ideas

Every subject worth studying has a handful of ideas that the rest depends on. In this lesson, \
*{plan["title"]}*, you would meet them one at a time, each with a short explanation, a picture to keep in \
mind and a note on how it connects to the previous weeks. A course written by an AI model would fill this \
section with real explanations; the offline generator can only show you where they go.

## An example

A good example makes an idea concrete: it starts from a situation you recognise, walks through what happens \
step by step and ends by naming the idea it illustrated. Look for one such example in your own life before \
the next lesson, and note which of this week's objectives it touches.

## Exercise

Spend twenty minutes on this:

1. Write down, in three sentences, what you already know about *{plan["title"]}*.
2. Find one reliable source (a book, an encyclopedia article or a lecture) and note two things it adds.
3. Write one question you would like the next lesson to answer.
"""
    return {"body_markdown": body}


def _quiz(facts: dict[str, Any]) -> dict[str, Any]:
    """Questions on what the week's written lessons say, each with the lesson's sentence that answers it."""
    outline = json.loads(facts["outline_json"])
    week = _find(outline["weeks"], facts["week"])
    lessons: dict[int, str] = facts.get("lessons") or {}
    others = [other for other in outline["weeks"] if other["number"] != week["number"]]
    first = min(lessons, default=1)
    candidates = [_lesson_question(week, lesson) for lesson in week["lessons"] if lesson["number"] in lessons]
    candidates.append(_week_question(week, others, first))
    candidates.append(_objective_question(week, others, first))
    questions = [question for question in candidates if _distinct(question["options"])]
    for question in questions:
        question["passage"] = _supporting(question["passage"], lessons.get(question["lesson"], ""))
    return {"questions": questions[:6], **_readings(_short(outline["topic"], 100), facts["language"])}


def _supporting(passage: str, body: str) -> str:
    """`passage` when the lesson holds it (offline lessons open with their summary and list the objectives);
    else the lesson's first line of prose, e.g. for a lesson a moderator rewrote."""
    if passages.passage_found(passage, body):
        return passage
    prose = (line.strip() for line in body.splitlines())
    first = next((line for line in prose if len(line) >= 20 and line[0] not in "#->*|"), passage)
    return first[:600].rsplit(" ", 1)[0] if len(first) > 600 else first


def _lesson_question(week: dict[str, Any], lesson: dict[str, Any]) -> dict[str, Any]:
    titles = [_short(other["title"], 200) for other in week["lessons"]]
    return {
        "question": f"Which lesson of week {week['number']} covers this: “{_short(lesson['summary'], 300)}”?",
        "options": titles,
        "correct_index": titles.index(_short(lesson["title"], 200)),
        "explanation": "The lesson says so in its first paragraph.",
        "lesson": lesson["number"],
        "passage": _short(lesson["summary"], 600),  # every offline lesson opens with its summary
    }


def _week_question(week: dict[str, Any], others: list[dict[str, Any]], lesson: int) -> dict[str, Any]:
    options = [other["title"] for other in others[:3]]
    position = week["number"] % (len(options) + 1)
    options.insert(position, week["title"])
    return {
        "question": f"What is the title of week {week['number']}?",
        "options": options,
        "correct_index": position,
        "explanation": "It is the week this quiz belongs to.",
        "lesson": lesson,
        "passage": f"This lesson belongs to week {week['number']}, {_short(week['title'], 400)}",
    }


def _objective_question(week: dict[str, Any], others: list[dict[str, Any]], lesson: int) -> dict[str, Any]:
    options = [_short(other["objectives"][0], 300) for other in others[:3]]
    position = (week["number"] + 1) % (len(options) + 1)
    options.insert(position, _short(week["objectives"][0], 300))
    return {
        "question": f"Which of these is a learning objective of week {week['number']}?",
        "options": options,
        "correct_index": position,
        "explanation": "Each lesson of the week lists it under “What you will learn”.",
        "lesson": lesson,
        "passage": _short(week["objectives"][0], 600),
    }


def _distinct(options: list[str]) -> bool:
    return 3 <= len(options) <= 5 and len({option.casefold() for option in options}) == len(options)
