"""Screening of requested topics and generated parts, before anyone reads them.

Two layers:
1. Moderation of meaning: OpenAI's moderation endpoint through `courses.generation.llm.moderate` when an API key is
   set; offline, a small local rule set that says so in its result (it catches only the blatant cases).
2. Checks that need no service: model chatter and leaked prompt text, empty or truncated parts, quizzes
   that cannot be answered, and links that are not http(s).

This module only reads and judges; `courses.moderation.review` records what it finds and holds the course back.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings

from courses.generation import llm
from courses.models import ContentFlag, Course, Lesson, Quiz, Week

if TYPE_CHECKING:
    from courses.generation.schemas import CourseOutline, WeekPlan, WeekReplan

logger = logging.getLogger(__name__)

LOCAL_RULES_NOTE = "Screened offline by Semester's small local rule set, not by OpenAI's moderation model."
OPENAI_NOTE = "Screened by OpenAI's moderation model."
OPENAI_DOWN_NOTE = "OpenAI's moderation model did not answer, so Semester's local rule set screened this."
MODERATION_OFF_NOTE = "Moderation is off (MODERATION_PROVIDER=off): only Semester's content checks ran."
EXCERPT_CHARS = 300
PASSAGE_CHARS = 1500  # a part is moderated in passages of about this size…
MAX_PASSAGES = 16  # …and in at most this many, all in one call

Source = ContentFlag.Source


@dataclass(frozen=True)
class Finding:
    code: str  # moderation, chatter, prompt_leak, empty, truncated, too_short, bad_link, quiz_invalid
    detail: str  # one sentence for the moderator
    excerpt: str = ""
    source: str = Source.CHECKS
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreeningResult:
    findings: list[Finding] = field(default_factory=list)
    moderated_by: str = Source.LOCAL_RULES  # who judged the meaning: OpenAI or the local rules
    note: str = LOCAL_RULES_NOTE

    @property
    def flagged(self) -> bool:
        return bool(self.findings)

    @property
    def categories(self) -> list[str]:
        return sorted({category for finding in self.findings for category in finding.categories})


# --- Layer 1: moderation of meaning --------------------------------------------------------------------
# The offline stand-in: requests to cause serious harm, phrased the blatant way. Teaching *about* a subject
# ("the history of chemical weapons") passes; asking *how to make or do* the harmful thing does not.
_MAKE = r"(?:make|making|build|building|cook|cooking|synthesi[sz]e|synthesi[sz]ing|manufactur\w*|assembl\w*|homemade|diy|create|creating|write|writing)"
LOCAL_RULES: dict[str, re.Pattern[str]] = {
    "violence/weapons": re.compile(
        rf"\bbomb-making\b|\b{_MAKE}\b.{{0,40}}\b(?:bombs?|explosives?|ied|nerve agents?|bioweapons?|"
        r"chemical weapons?|napalm|ricin|sarin|ghost guns?)\b"
    ),
    "illicit/drugs": re.compile(rf"\b{_MAKE}\b.{{0,40}}\b(?:meth|methamphetamine|fentanyl|heroin|crack)\b"),
    "illicit/malware": re.compile(rf"\b{_MAKE}\b.{{0,40}}\b(?:ransomware|malware|keyloggers?|botnets?)\b"),
    "self-harm": re.compile(
        r"\b(?:how to|ways to|best way to|help me)\b.{0,30}\b(?:kill myself|commit suicide|self[- ]harm)"
    ),
    "sexual/minors": re.compile(
        r"\b(?:child|children|minors?|underage|preteens?|kids?)\b.{0,30}\b(?:porn\w*|sexual\w*|nudes?|erotic\w*)\b"
        r"|\b(?:porn\w*|sexual\w*|nudes?|erotic\w*)\b.{0,30}\b(?:child|children|minors?|underage|preteens?)\b"
    ),
    "hate": re.compile(
        r"\b(?:inferior|subhuman)\s+(?:race|races|people|peoples)\b|\bwhy\b.{0,40}\bshould be exterminated\b"
    ),
}


def local_rules_categories(text: str) -> list[str]:
    folded = " ".join(text.casefold().split())
    return [category for category, pattern in LOCAL_RULES.items() if pattern.search(folded)]


def moderate_texts(*, texts: list[str], course: Course | None) -> ScreeningResult:
    """Judge the meaning of texts as settings.MODERATION_PROVIDER says: a moderations endpoint, the local
    rules, or nobody (then only the content checks run). Local and off make no LLM call, so none is recorded."""
    texts = [text for text in texts if text.strip()]
    provider = llm.moderation_provider()
    if provider == "off":
        return ScreeningResult(findings=[], moderated_by=Source.CHECKS, note=MODERATION_OFF_NOTE)
    if provider == "local":
        return _moderate_locally(texts, note=LOCAL_RULES_NOTE)
    try:
        return _moderate_with_openai(texts=texts, course=course)  # no texts: no call, nothing flagged
    except llm.LLMError as error:  # an outage of the moderation endpoint must not stop screening
        logger.warning("OpenAI moderation failed (%s); screening with the local rules", error)
        return _moderate_locally(texts, note=OPENAI_DOWN_NOTE)


def moderation_summary() -> str:
    """Who judges meaning in this process, in a sentence for the admin."""
    provider = llm.moderation_provider()
    model = settings.OPENAI_MODERATION_MODEL
    if provider == "openai":
        return f"the moderations endpoint of {settings.OPENAI_BASE_URL} (model {model})"
    if provider == "url":
        return f"the moderations endpoint of {settings.MODERATION_BASE_URL} (model {model}, MODERATION_PROVIDER=url)"
    if provider == "off":
        return "nobody: moderation is off (MODERATION_PROVIDER=off); only the content checks run"
    why = "MODERATION_PROVIDER=local" if settings.MODERATION_PROVIDER == "local" else "no OPENAI_API_KEY"
    return f"Semester's local rule set ({why}); it catches only blatant requests for harm"


def _moderate_with_openai(*, texts: list[str], course: Course | None) -> ScreeningResult:
    results = llm.moderate(inputs=texts, course=course)
    flagged = [
        (text, tuple(sorted(result.categories)))
        for text, result in zip(texts, results, strict=True)
        if result.flagged
    ]
    return _moderation_result(flagged, source=Source.OPENAI, note=OPENAI_NOTE)


def _moderate_locally(texts: list[str], *, note: str) -> ScreeningResult:
    flagged = [(text, categories) for text in texts if (categories := tuple(local_rules_categories(text)))]
    return _moderation_result(flagged, source=Source.LOCAL_RULES, note=note)


def _moderation_result(
    flagged: list[tuple[str, tuple[str, ...]]], *, source: str, note: str
) -> ScreeningResult:
    """One finding per flagged text (with the categories it was flagged for), judged by `source`."""
    judge = "OpenAI moderation" if source == Source.OPENAI else "The local rule set"
    findings = [
        Finding(
            code="moderation",
            detail=f"{judge} flagged it ({', '.join(categories) or 'no category given'}).",
            excerpt=passage_excerpt(text),
            source=source,
            categories=categories,
        )
        for text, categories in flagged
    ]
    return ScreeningResult(findings=findings, moderated_by=source, note=note)


# --- Layer 2: checks that need no service -------------------------------------------------------------
CHATTER_PATTERNS = [
    re.compile(r"\bas an ai\b(?: (?:language )?model)?", re.IGNORECASE),
    re.compile(r"\bas an? (?:large )?language model\b", re.IGNORECASE),
    re.compile(r"\b(?:my (?:knowledge|training) (?:cutoff|data))\b", re.IGNORECASE),
    # Refusals and apologies that open a sentence: the model talking to us instead of writing the lesson.
    re.compile(
        r"(?:^|[.!?]\s+|\n)\s*(?:i'?m sorry|i am sorry|i apologi[sz]e|i cannot|i can(?:'|’)?t|i can not|"
        r"i am unable|i'?m unable|i(?: am|'m) not able)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:here(?: is|'s|’s) (?:the|your) (?:json|response|output|lesson|quiz|outline|course)|"
        r"(?:sure|certainly|of course)[,!]\s+here(?: is|'s|’s))\b",
        re.IGNORECASE,
    ),
]
PROMPT_LEAK_PATTERNS = [
    re.compile(
        r"\byou are an? (?:expert|helpful|experienced|world-class|skilled)\b.{0,60}"
        r"\b(?:assistant|writer|teacher|tutor|author|educator|instructor|designer)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:system prompt|system message|developer message)\b", re.IGNORECASE),
    re.compile(r"\brespond (?:only )?(?:with|in) (?:valid )?json\b|\bjson schema\b", re.IGNORECASE),
    re.compile(r"\bignore (?:all )?(?:the )?(?:previous|prior|above) instructions\b", re.IGNORECASE),
    re.compile(
        r"\bdo not (?:mention|reveal|repeat) (?:these|this|the) (?:instructions|prompt)\b", re.IGNORECASE
    ),
    # Template placeholders that were never filled in.
    re.compile(r"\{\{?\s*(?:topic|title|week|week_number|lesson|lesson_title|audience|language)\s*\}?\}"),
]
# A requested topic that tries to steer the model. Matched on the normalised topic (`injection_normalised`), by
# shape rather than by exact phrase: a verb of setting aside near a word for instructions, a role switch, a request
# for the hidden prompt. This catches the common phrasings and their disguises (full-width letters, zero-width
# characters, accents, punctuation between words); it cannot catch every paraphrase, nor another language. The
# real defences are elsewhere: the topic is always quoted data in the prompt, and moderators review courses.
_SET_ASIDE = (
    r"ignor\w*|disregard\w*|forget\w*|overrid\w*|bypass\w*|skip\w*|drop\w*|abandon\w*|discard\w*|"
    r"set aside|pay no attention to|do not follow|dont follow|stop following|no longer follow"
)
_INSTRUCTIONS = (
    r"instructions?|guidance|rules?|directions?|prompts?|guidelines?|constraints?|orders?|"
    r"directives?|polic(?:y|ies)|system messages?"
)
TOPIC_INJECTION_PATTERNS = [
    re.compile(rf"\b(?:{_SET_ASIDE})\b(?: \w+){{0,4}}? (?:{_INSTRUCTIONS})\b"),
    re.compile(r"\b(?:system|developer) (?:prompt|message|instructions?)\b"),
    re.compile(
        r"\b(?:reveal|show|print|repeat|output|tell me|leak) (?:\w+ ){0,3}(?:prompt|instructions|rules)\b"
    ),
    re.compile(r"\b(?:you are now|from now on you|pretend (?:to be|you are)|new instructions?)\b"),
    re.compile(r"\b(?:respond|reply|answer) only (?:with|in)\b|\bjson schema\b"),
    re.compile(r"\binstead (?:write|output|respond|say|print|produce)\b"),
]
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


def injection_normalised(text: str) -> str:
    """`text` as the injection patterns read it: compatibility forms folded (full-width letters), invisible
    characters and accents removed, lower case, apostrophes dropped, every other run of non-letters one space."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).translate(_INVISIBLE))
    plain = "".join(char for char in folded if not unicodedata.combining(char)).casefold()
    plain = re.sub(r"['’`]", "", plain)
    return " ".join(re.sub(r"[^\w]+|_", " ", plain).split())


MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>")
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
FENCE = re.compile(r"^\s{0,3}(```|~~~)", re.MULTILINE)
NOT_A_PARAGRAPH = re.compile(r"^\s*(?:#|\||>|[-*+]\s|\d+[.)]\s|```|~~~|<)")
UNFINISHED_ENDING = re.compile(r"[\w,;:(\-–—]$")


def passage_excerpt(text: str) -> str:
    """A flagged passage whole (a moderation model does not say where in it the problem is), within reason."""
    return text if len(text) <= PASSAGE_CHARS * 2 else text[: PASSAGE_CHARS * 2] + "…"


def excerpt(text: str, start: int = 0) -> str:
    begin = max(0, start - 60)
    snippet = " ".join(text[begin : begin + EXCERPT_CHARS].split())
    return ("…" if begin else "") + snippet


def chatter_findings(text: str) -> list[Finding]:
    """The model talking about itself or to us, or repeating its instructions, instead of teaching."""
    findings = []
    for code, patterns, what in (
        ("chatter", CHATTER_PATTERNS, "Model chatter"),
        ("prompt_leak", PROMPT_LEAK_PATTERNS, "Leaked prompt or instructions to the model"),
    ):
        for pattern in patterns:
            match = pattern.search(text)
            if match:
                findings.append(
                    Finding(code, f"{what}: “{match.group().strip()}”.", excerpt(text, match.start()))
                )
                break
    return findings


def link_findings(text: str) -> list[Finding]:
    bad = sorted({url for url in _links(text) if not is_web_url(url)})
    if not bad:
        return []
    shown = ", ".join(bad[:5]) + (" …" if len(bad) > 5 else "")
    return [Finding("bad_link", f"Links that are not http(s): {shown}.", excerpt(text, text.find(bad[0])))]


def _links(text: str) -> Iterable[str]:
    for pattern in (MARKDOWN_LINK, REFERENCE_LINK, AUTOLINK, HTML_LINK):
        yield from (match.group(1) for match in pattern.finditer(text))


def is_web_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in {"http", "https"} and bool(parts.netloc)


def truncation_findings(text: str, *, min_words: int = 0) -> list[Finding]:
    """Empty, cut off (an open code fence, a last sentence with no end) or far shorter than asked."""
    if not text.strip():
        return [Finding("empty", "The part is empty.")]
    findings = []
    if len(FENCE.findall(text)) % 2:
        findings.append(
            Finding("truncated", "A code block is opened and never closed.", excerpt(text[-400:]))
        )
    last_line = text.rstrip().splitlines()[-1].strip()
    tail = last_line.rstrip("*_`'\"’”)]")
    if not NOT_A_PARAGRAPH.match(last_line) and UNFINISHED_ENDING.search(tail):
        findings.append(Finding("truncated", "The text stops mid-sentence.", excerpt(last_line)))
    words = len(text.split())
    if min_words and words < min_words:
        findings.append(
            Finding("too_short", f"Only {words} words, far below the {min_words} expected.", excerpt(text))
        )
    return findings


def quiz_findings(questions: Any) -> list[Finding]:
    """A quiz a learner cannot answer: no questions, missing options, or an answer that is not an option."""
    if not isinstance(questions, list) or not questions:
        return [Finding("empty", "The quiz has no questions.")]
    problems = []
    for number, item in enumerate(questions, start=1):
        problem = _question_problem(item)
        if problem:
            problems.append(f"question {number} {problem}")
    if not problems:
        return []
    return [Finding("quiz_invalid", "The quiz cannot be answered: " + "; ".join(problems) + ".")]


def _question_problem(item: Any) -> str:
    if not isinstance(item, dict) or not str(item.get("question", "")).strip():
        return "has no question text"
    options = item.get("options")
    if not isinstance(options, list) or len([o for o in options if str(o).strip()]) < 2:
        return "has fewer than two options"
    answer = item.get("answer")
    if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(options):
        return "has an answer that is not one of its options"
    return ""


# --- Whole requests and parts -------------------------------------------------------------------------
def topic_screen(*, topic: str) -> ScreeningResult:
    """Screen a requested topic before any generation spend: its meaning, and attempts to steer the model."""
    result = moderate_texts(texts=[topic], course=None)
    normalised = injection_normalised(topic)
    injections = [
        Finding("prompt_injection", "The topic gives instructions to the model.", excerpt(topic))
        for pattern in TOPIC_INJECTION_PATTERNS
        if pattern.search(normalised)
    ][:1]
    return replace(result, findings=[*result.findings, *injections])


def part_screen(*, part: Course | Week | Lesson | Quiz) -> ScreeningResult:
    """Screen one generated part (the outline is the course row itself) after it is written."""
    course = part if isinstance(part, Course) else part.course
    texts = part_texts(part)
    findings = part_check(part)
    for text in texts:
        findings.extend(chatter_findings(text))
    result = moderate_texts(texts=passages(texts), course=course)
    return replace(result, findings=[*result.findings, *findings])


Section = tuple[str, list[str], list[str]]  # label, texts, reading-list links


def outline_screen(*, course: Course, outline: CourseOutline) -> ScreeningResult:
    """Screen an outline as the LLM returned it, before it is stored: the course's header and every week.

    One moderation call covers it all (one input per week); findings about a week say which week.
    """
    header = [outline.title, outline.description, outline.audience]
    sections: list[Section] = [("Course", header, [])]
    sections += [_week_section(number, week) for number, week in enumerate(outline.weeks, start=1)]
    return _sections_screen(course, sections)


def week_plan_screen(*, course: Course, number: int, plan: WeekReplan) -> ScreeningResult:
    """Screen a week planned again (title, overview, objectives, readings, lessons) before it is stored."""
    return _sections_screen(course, [_week_section(number, plan)])


def _week_section(number: int, week: WeekPlan) -> Section:
    readings = getattr(week, "reading_list", [])  # only a week planned again has them (`WeekReplan`)
    texts = [week.title, week.overview, *week.objectives]
    texts += [f"{reading.title} {reading.note}" for reading in readings]
    texts += [f"{lesson.title}: {lesson.summary}" for lesson in week.lessons]
    return (f"Week {number}", texts, [reading.url for reading in readings])


def _sections_screen(course: Course, sections: list[Section]) -> ScreeningResult:
    findings: list[Finding] = []
    for label, texts, urls in sections:
        found = [finding for text in texts for finding in chatter_findings(text)]
        found += link_findings("\n".join(texts)) + link_findings(" ".join(f"<{url}>" for url in urls if url))
        findings += [replace(finding, detail=f"{label}: {finding.detail}") for finding in found]
    result = moderate_texts(texts=["\n".join(texts) for _, texts, _ in sections], course=course)
    return replace(result, findings=[*result.findings, *findings])


def passages(texts: list[str], *, size: int = PASSAGE_CHARS, most: int = MAX_PASSAGES) -> list[str]:
    """Texts cut into passages of whole paragraphs, each judged on its own by one moderation call, so a
    flag points at the passage that earned it; long parts get longer passages rather than more of them."""
    paragraphs = [p.strip() for text in texts for p in re.split(r"\n\s*\n", text) if p.strip()]
    size = max(size, sum(map(len, paragraphs)) // most + 1)
    chunks: list[str] = []
    for paragraph in paragraphs:
        if chunks and len(chunks[-1]) + len(paragraph) + 2 <= size:
            chunks[-1] += "\n\n" + paragraph
        else:
            chunks.append(paragraph)
    return chunks


def part_texts(part: Course | Week | Lesson | Quiz) -> list[str]:
    """The texts of a part a learner will read, one per field."""
    if isinstance(part, Course):
        return [part.title, part.description]
    if isinstance(part, Week):
        return [part.title, part.overview, *map(str, part.objectives or [])]
    if isinstance(part, Lesson):
        return [part.title, part.body]
    texts = []
    for item in part.questions if isinstance(part.questions, list) else []:
        if isinstance(item, dict):
            texts.append(str(item.get("question", "")))
            texts.extend(str(option) for option in item.get("options") or [])
            texts.append(str(item.get("explanation", "")))
    return texts + _reading_texts(part.week.reading_list)  # the quiz's writer chose the week's readings


def _reading_texts(reading_list: Any) -> list[str]:
    items = [item for item in reading_list or [] if isinstance(item, dict)]
    texts = [f"{item.get('title', '')} {item.get('note', '')}" for item in items]
    return texts + [f"<{item['url']}>" for item in items if item.get("url")]


def part_check(part: Course | Week | Lesson | Quiz) -> list[Finding]:
    """The service-free checks that fit each kind of part."""
    if isinstance(part, Course):
        return [] if part.title.strip() else [Finding("empty", "The outline has no title.")]
    if isinstance(part, Week):
        urls = [str(item.get("url", "")) for item in part.reading_list or [] if isinstance(item, dict)]
        links = [url for url in urls if url and not is_web_url(url)]
        found = [Finding("bad_link", f"Reading list links that are not http(s): {', '.join(links)}.")]
        return (found if links else []) + link_findings(part.overview)
    if isinstance(part, Lesson):
        return truncation_findings(part.body, min_words=settings.SCREENING_LESSON_MIN_WORDS) + link_findings(
            part.body
        )
    return quiz_findings(part.questions) + [
        finding for text in part_texts(part) for finding in link_findings(text)
    ]
