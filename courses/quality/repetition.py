"""Near-duplicate paragraphs between the lessons of a course: the repetition LLM lessons fall into when they
cannot see each other.

Each prose paragraph becomes a set of 5-word shingles and a MinHash signature; MinHash LSH (datasketch) finds
the pairs whose estimated Jaccard similarity reaches settings.QUALITY_REPETITION_THRESHOLD, in time linear in
the number of paragraphs instead of comparing every pair. Only pairs from two different lessons count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from datasketch import LeanMinHash

SHINGLE_WORDS = 5
MIN_PARAGRAPH_WORDS = 25  # shorter paragraphs (a transition, a list's lead-in) repeat harmlessly
NUM_PERM = 64
SCHEME = "affine32"  # datasketch 2's default, named: it must be when permutations are passed in
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Paragraph:
    lesson_id: int
    text: str


@dataclass(frozen=True)
class Repeat:
    """Two paragraphs of two lessons that say nearly the same thing."""

    first: Paragraph
    second: Paragraph
    similarity: float  # estimated Jaccard similarity of their shingles, 0-1


def prose_paragraphs(markdown: str) -> list[str]:
    """The lesson's paragraphs of running text: no headings, lists, tables, quotes or code."""
    kept = []
    for block in re.split(r"\n\s*\n", markdown):
        text = block.strip()
        if not text or text[0] in "#-*|>`" or text[0].isdigit():
            continue
        if len(text.split()) >= MIN_PARAGRAPH_WORDS:
            kept.append(text)
    return kept


def shingles(text: str) -> set[bytes]:
    words = WORD.findall(text.casefold())
    return {" ".join(words[i : i + SHINGLE_WORDS]).encode() for i in range(len(words) - SHINGLE_WORDS + 1)}


def repeated_paragraphs(lessons: dict[int, str], *, threshold: float | None = None) -> list[Repeat]:
    """Every pair of paragraphs from two different lessons ({lesson id: markdown}) at or above the threshold,
    most similar first."""
    # Imported here: datasketch loads SciPy, ~55 MB in every process that imports this module (web workers,
    # the PDF worker), and only the quality report uses it.
    from datasketch import MinHashLSH

    threshold = settings.QUALITY_REPETITION_THRESHOLD if threshold is None else threshold
    paragraphs = [
        Paragraph(lesson_id, text) for lesson_id, body in lessons.items() for text in prose_paragraphs(body)
    ]
    signatures = [_signature(paragraph.text) for paragraph in paragraphs]
    index = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    for key, signature in enumerate(signatures):
        index.insert(key, signature)
    repeats = []
    for key, signature in enumerate(signatures):
        for other in index.query(signature):
            first, second = paragraphs[key], paragraphs[other]
            if other <= key or first.lesson_id == second.lesson_id:
                continue
            similarity = float(signature.jaccard(signatures[other]))
            if similarity >= threshold:
                repeats.append(Repeat(first, second, similarity))
    return sorted(repeats, key=lambda repeat: -repeat.similarity)


def _signature(text: str) -> LeanMinHash:
    from datasketch import LeanMinHash, MinHash

    # The permutations are drawn once: drawing them for every paragraph was half of a course's report.
    minhash = MinHash(num_perm=NUM_PERM, seed=1, permutations=_permutations(), scheme=SCHEME)
    minhash.update_batch(list(shingles(text)) or [text.encode()])
    return LeanMinHash(minhash)


@cache
def _permutations() -> Any:
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME).permutations
