"""Plausible course-like text for the fake's answers: words from the prompt's topic, sentences, markdown
lessons (with XSS payloads when the fake is told to be hostile).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

HOSTILE_SNIPPETS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(2)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
)


_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]+")
# Instruction words say nothing about the topic; kept as text so the list stays readable.
_STOPWORD_TEXT = """
    about above after again against also among another answer based because been before being below
    between both came come could course does doing down during each email every following from further
    generate given have having here into itself json just lesson lessons like make many more most must
    need only other over please provide really return same schema should some such than that their them
    then there these they this those through under until very want week weeks were what when where which
    while will with within would write your yours create include including using topic output teach
    explain tell describe show know
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_FALLBACK_WORDS = ("learning", "practice", "concepts", "examples", "curiosity", "structure")
_SENTENCES = (
    "{A} shapes how we think about {b} in everyday practice.",
    "A careful look at {a} reveals why {b} matters so much.",
    "Many learners first meet {a} while working with {b}.",
    "Understanding {a} makes {b} far easier to reason about.",
    "In practice, {a} and {b} are rarely separate concerns.",
    "The key insight is that {a} quietly depends on {b}.",
    "Experts often compare {a} with {b} to highlight the trade-offs.",
    "A small example of {a} shows how {b} emerges naturally.",
    "When {a} goes wrong, the cause is usually hidden in {b}.",
    "Keep {a} in mind whenever you reason about {b}.",
    "Historically, {a} grew out of questions about {b}.",
    "Notice how {a} changes once {b} enters the picture.",
)
_SECTION_TITLES = (
    "Why {A} matters",
    "Core ideas behind {a}",
    "A worked example",
    "How {a} connects to {b}",
    "Common pitfalls",
    "Going further with {a}",
    "Putting {a} into practice",
)


def topic_words(text: str, limit: int = 24) -> list[str]:
    """Distinctive words of a prompt, in order, so generated prose sounds on-topic."""
    words: list[str] = []
    for raw in _WORD_RE.findall(text):
        word = raw.lower().strip("'-")
        if len(word) >= 4 and word not in _STOPWORDS and word not in words:
            words.append(word)
        if len(words) >= limit:
            break
    return words or list(_FALLBACK_WORDS)


# A quoted document in a prompt: "<<<LESSON 2\n…\nLESSON 2>>>". A string field named like a quotation
# ("passage", "quote", "excerpt", "evidence") copies a sentence of one, as a model quoting its sources would.
_SOURCE_RE = re.compile(r"<<<([A-Z]+) (\d+)\n(.*?)\n\1 \2>>>", re.DOTALL)
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
Source = tuple[str, int, list[str]]  # ("lesson", 2, its quotable sentences)


def quoted_sources(text: str) -> list[Source]:
    found = []
    for name, number, body in _SOURCE_RE.findall(text):
        sentences = quotable_sentences(body)
        if sentences:
            found.append((name.lower(), int(number), sentences))
    return found


def quotable_sentences(markdown: str) -> list[str]:
    """Whole sentences of a document's prose paragraphs (not headings, lists or quotes), 6 to 80 words."""
    sentences = []
    for line in markdown.splitlines():
        line = line.strip()
        if not line or line[0] in "#->*|" or line[0].isdigit():
            continue
        sentences += [part for part in _SENTENCE_END_RE.split(line) if 6 <= len(part.split()) <= 80]
    return sentences


def name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z]+", name.lower()) if len(w) >= 3]


class TextMaker:
    """Sentences, titles and markdown lessons built from a prompt's words, driven by a seeded RNG."""

    def __init__(self, rng: random.Random, context: str = "", sources: Sequence[Source] = ()) -> None:
        self.rng = rng
        self.words = topic_words(context)
        self.sources = list(sources)

    def quote(self) -> tuple[Source | None, str]:
        """A sentence of one of the prompt's quoted documents (and which), or an invented one if it has none."""
        if not self.sources:
            return None, self.sentence()
        source = self.rng.choice(self.sources)
        return source, self.rng.choice(source[2])

    def word(self) -> str:
        return self.rng.choice(self.words)

    def pair(self, extra: Sequence[str] = ()) -> tuple[str, str]:
        """Two different words when the prompt has them ("roman limits roman" reads badly)."""
        first = self.word()
        others = [w for w in (*self.words, *extra) if w != first]
        return first, self.rng.choice(others) if others else first

    def sentence(self, extra: Sequence[str] = ()) -> str:
        first, second = self.pair(extra)
        return self.rng.choice(_SENTENCES).format(a=first, A=first.capitalize(), b=second)

    def paragraph(self, sentences: int = 5) -> str:
        return " ".join(self.sentence() for _ in range(sentences))

    def title(self) -> str:
        first, second = (word.capitalize() for word in self.pair())
        if first == second:
            return f"Understanding {first}"
        return self.rng.choice((f"{first} and {second}", f"Understanding {first}", f"{first}: {second}"))

    def question(self) -> str:
        first, second = self.pair()
        return f"Which statement best explains how {first} relates to {second}?"

    def phrase(self) -> str:
        first, second = self.pair()
        return f"{first.capitalize()} {self.rng.choice(('depends on', 'shapes', 'limits'))} {second}"

    def slug(self) -> str:
        return "-".join(self.rng.sample(self.words, k=min(3, len(self.words))))

    def url(self) -> str:
        return f"https://example.org/{self.slug()}/{self.rng.randint(1, 999)}"

    def email(self) -> str:
        return f"{self.word()}@example.org"

    def markdown_lesson(self, hostile: bool = False) -> str:
        """A ~600-900 word lesson: headings, paragraphs, a list and an Exercise section."""
        target = self.rng.randint(620, 820)
        parts = [self.paragraph(4)]
        if hostile:
            parts.append("Try this: " + " ".join(HOSTILE_SNIPPETS))
        titles = list(_SECTION_TITLES)
        self.rng.shuffle(titles)
        while _word_count(parts) < target and titles:
            parts.append(self._section(titles.pop()))
        parts.append("## Key points\n\n" + "\n".join(f"- {self.sentence()}" for _ in range(4)))
        parts.append(self._exercise())
        return "\n\n".join(parts)

    def _section(self, title_template: str) -> str:
        first, second = self.pair()
        heading = title_template.format(a=first, A=first.capitalize(), b=second)
        return f"## {heading}\n\n{self.paragraph(self.rng.randint(4, 6))}\n\n{self.paragraph(4)}"

    def _exercise(self) -> str:
        steps = "\n".join(f"{n}. {self.sentence()}" for n in range(1, 4))
        return f"## Exercise\n\nSpend twenty minutes on {self.word()}.\n\n{steps}"


def _word_count(parts: Sequence[str]) -> int:
    return sum(len(part.split()) for part in parts)


def fit_length(text: str, min_len: int | None, max_len: int | None, filler: Callable[[], str]) -> str:
    """Pad or cut text to a schema's minLength/maxLength, cutting at a word boundary when possible."""
    while min_len and len(text) < min_len:
        text = f"{text} {filler()}"
    if max_len is not None and len(text) > max_len:
        cut = text[:max_len]
        at_space = cut.rsplit(" ", 1)[0].rstrip()
        text = at_space if len(at_space) >= max(min_len or 0, max_len // 2, 1) else cut
    return text
