"""The tutor without an LLM: the passages of the week's lessons that best match the question (BM25, `bm25s`),
quoted as they are and labelled as excerpts, never passed off as an answer someone wrote."""

from __future__ import annotations

import re
from dataclasses import dataclass

from courses.models import Lesson
from courses.tutor.prompts import HEADING

EXCERPTS_LABEL = (
    "**Excerpts from this week's lessons, not an AI answer.** No AI tutor is configured on this site, so here "
    "are the passages that best match your question."
)
NO_MATCH = (
    "**No AI tutor is configured on this site**, and no passage of this week's lessons matches your question. "
    "Try other words, or re-read the lesson's section headings."
)
EXCERPTS_SHOWN = 3
PASSAGE_MAX_CHARS = 700


@dataclass(frozen=True)
class Passage:
    lesson_title: str
    section: str
    text: str


def lesson_passages(lessons: list[Lesson]) -> list[Passage]:
    """Every paragraph of the lessons, with the lesson and the section heading it stands under."""
    passages = []
    for lesson in lessons:
        section = ""
        for block in re.split(r"\n\s*\n", lesson.body):
            block = block.strip()
            heading = HEADING.match(block)
            if heading:
                section = heading.group(1)
                block = block[heading.end() :].strip()
            if len(block.split()) >= 5:
                passages.append(Passage(lesson.title, section, block))
    return passages


def best_passages(*, question: str, lessons: list[Lesson], count: int = EXCERPTS_SHOWN) -> list[Passage]:
    # Imported here: bm25s brings numpy (half a second), which only a process answering offline needs, not
    # every web process that queues a task by name (and so imports courses.tasks).
    import bm25s

    passages = lesson_passages(lessons)
    query = bm25s.tokenize([question], stopwords="en", show_progress=False, return_ids=False)
    if not passages or not query[0]:
        return []
    corpus = bm25s.tokenize(
        [p.section + "\n" + p.text for p in passages], stopwords="en", show_progress=False
    )
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    found, scores = retriever.retrieve(query, k=min(count, len(passages)), show_progress=False)
    return [passages[int(index)] for index, score in zip(found[0], scores[0], strict=True) if score > 0]


def excerpts_answer(*, question: str, lessons: list[Lesson]) -> str:
    """The offline answer, in Markdown: the label, then each passage quoted with where it comes from."""
    passages = best_passages(question=question, lessons=lessons)
    if not passages:
        return NO_MATCH
    parts = [EXCERPTS_LABEL]
    for passage in passages:
        text = (
            passage.text if len(passage.text) <= PASSAGE_MAX_CHARS else passage.text[:PASSAGE_MAX_CHARS] + "…"
        )
        quoted = "\n".join(f"> {line}" for line in text.splitlines())
        where = f"“{passage.lesson_title}”" + (f", section “{passage.section}”" if passage.section else "")
        parts.append(f"{quoted}\n\n— {where}")
    return "\n\n".join(parts)
