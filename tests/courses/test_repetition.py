"""Near-duplicate paragraphs between two lessons of a course are found; different lessons are not flagged."""

from __future__ import annotations

import json

from courses.generation import prompts
from courses.quality.repetition import prose_paragraphs, repeated_paragraphs
from tests.fresh_python import fresh_python_prints

AQUEDUCTS = (
    "Roman engineers built aqueducts with a gentle and constant slope, so that water flowed by gravity alone "
    "from springs in the hills to fountains, baths and private houses in the city, sometimes over fifty "
    "miles of channels, tunnels and arcades that still stand in parts of Europe today."
)
ROADS = (
    "The road network of the empire connected its provinces with paved highways laid on layers of gravel "
    "and stone, which let legions, merchants and messengers travel quickly between distant towns and "
    "helped the state collect taxes and keep order far from the capital."
)
LATIN = (
    "Latin grammar marks the role of each noun with endings called cases, so the order of words in a "
    "sentence is freer than in English and poets could arrange them for sound and emphasis, which makes "
    "reading Virgil both a pleasure and a puzzle for a beginner."
)


def lesson(*paragraphs: str) -> str:
    return "## A section\n\n" + "\n\n".join(paragraphs) + "\n\n- a list item that is not prose\n"


def test_a_paragraph_repeated_with_small_changes_in_another_lesson_is_found() -> None:
    reworded = AQUEDUCTS.replace("constant", "steady").replace("today", "now")
    lessons = {1: lesson(AQUEDUCTS, ROADS), 2: lesson(LATIN, reworded), 3: lesson(LATIN.upper())}

    repeats = repeated_paragraphs(lessons, threshold=0.5)

    pairs = {(repeat.first.lesson_id, repeat.second.lesson_id) for repeat in repeats}
    assert (1, 2) in pairs
    assert (2, 3) in pairs  # case does not hide a copy
    aqueducts = next(r for r in repeats if (r.first.lesson_id, r.second.lesson_id) == (1, 2))
    assert aqueducts.first.text == AQUEDUCTS
    assert 0.5 <= aqueducts.similarity < 1.0


def test_different_paragraphs_and_repeats_within_one_lesson_are_not_flagged() -> None:
    lessons = {1: lesson(AQUEDUCTS, AQUEDUCTS), 2: lesson(ROADS), 3: lesson(LATIN)}

    assert repeated_paragraphs(lessons, threshold=0.5) == []


def test_headings_lists_and_short_lines_are_not_paragraphs() -> None:
    assert prose_paragraphs(lesson(ROADS) + "\n\nToo short to count.") == [ROADS]


def test_a_lesson_prompt_names_what_its_siblings_and_earlier_weeks_cover() -> None:
    outline = {
        "weeks": [
            {
                "number": n,
                "lessons": [{"number": m, "title": f"T{n}.{m}", "summary": f"S{n}.{m}"} for m in (1, 2)],
            }
            for n in (1, 2, 3)
        ]
    }
    prompt = prompts.lesson_prompt(
        language="en", outline_json=json.dumps(outline), week=2, lesson=1, title="T2.1", summary="S2.1"
    )

    task = prompt.messages[-1]["content"]
    siblings = json.loads(task.split("<<<SIBLINGS\n")[1].split("\nSIBLINGS>>>")[0])
    assert [(item["week"], item["lesson"]) for item in siblings] == [(1, 1), (1, 2), (2, 2)]
    assert siblings[2]["summary"] == "S2.2"


def test_a_process_that_never_checks_repetition_does_not_load_datasketch_or_scipy() -> None:
    """About 55 MB in every web and PDF worker process, for a check only the quality report makes."""
    code = "import sys, django; django.setup(); print(sorted({'datasketch', 'scipy'} & set(sys.modules)))"
    assert fresh_python_prints(code) == "[]"
