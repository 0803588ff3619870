"""Item-writing flaws of multiple-choice questions, found by rules (the classic checklist of test writers):
"all/none of the above", the longest option being the right one, negative stems, options that overlap, and,
across a whole course, the right answer sitting in one position too often."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, utils

ALL_OR_NONE = re.compile(r"\b(all|none|both|neither) of (the )?(above|these|them)\b", re.IGNORECASE)
NEGATIVE_STEM = re.compile(r"\b(not|except|never|least|false|incorrect)\b", re.IGNORECASE)
LONGEST_RATIO = 1.25  # the right option this much longer than every other one gives it away
OVERLAP_SCORE = 90  # rapidfuzz token-set ratio at which two options say the same thing
BIAS_MIN_QUESTIONS = 8
BIAS_MAX_SHARE = 0.5  # more than half the right answers in one position is a pattern a learner can exploit

FLAW_LABELS = {
    "all_or_none": "“All/none of the above” option",
    "longest_correct": "The right option is clearly the longest",
    "negative_stem": "Negative question (not, except…)",
    "overlapping_options": "Two options overlap",
    "no_passage": "No supporting passage in its lesson",
}


@dataclass(frozen=True)
class QuestionFlaw:
    week: int
    question: int  # position in the quiz, from 1
    code: str
    text: str

    @property
    def label(self) -> str:
        return FLAW_LABELS[self.code]


def question_flaws(question: dict[str, Any]) -> list[str]:
    """The flaw codes of one stored question ({"question", "options", "answer", …})."""
    options = [str(option) for option in question.get("options") or []]
    answer = int(question.get("answer", 0))
    flaws = []
    if any(ALL_OR_NONE.search(option) for option in options):
        flaws.append("all_or_none")
    if 0 <= answer < len(options) and len(options) > 1:
        others = [len(option) for n, option in enumerate(options) if n != answer]
        if len(options[answer]) >= LONGEST_RATIO * max(others):
            flaws.append("longest_correct")
    if NEGATIVE_STEM.search(str(question.get("question", ""))):
        flaws.append("negative_stem")
    if _overlapping(options):
        flaws.append("overlapping_options")
    return flaws


def _overlapping(options: list[str]) -> bool:
    folded = [option.casefold().strip(" .") for option in options]
    for i, first in enumerate(folded):
        for second in folded[i + 1 :]:
            if (
                first in second
                or second in first
                or fuzz.token_set_ratio(first, second, processor=utils.default_process) >= OVERLAP_SCORE
            ):
                return True
    return False


def position_bias(answers: list[int]) -> dict[str, Any] | None:
    """The position holding too many right answers across the course, or None when they are spread out."""
    if len(answers) < BIAS_MIN_QUESTIONS:
        return None
    position, count = Counter(answers).most_common(1)[0]
    share = count / len(answers)
    if share <= BIAS_MAX_SHARE:
        return None
    return {"position": position + 1, "share": round(share, 2), "questions": len(answers)}
