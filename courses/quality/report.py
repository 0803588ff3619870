"""The quality report of a course: every measure of `courses.quality` gathered, scored and stored.

Computed by a task (`courses.tasks.quality_report`) after the course is written, after every edit and after
the outside lookups, never on the path to "ready". Each measure gives a 0-100 part; the score is their mean
over the parts that could be measured, and `unchecked` says plainly what was not checked and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import textstat
from django.conf import settings
from django.utils import timezone

from courses.generation import llm
from courses.generation.prompts import LESSON_WORDS
from courses.models import ContentFlag, Course, Lesson, LessonPicture, LinkCheck, QualityReport, Quiz, Week
from courses.moderation import review
from courses.moderation.screening import Finding
from courses.quality import links, passages, quizzes, repetition

COVERAGE_MIN_SHARE = 0.6  # of an objective's content words found in the week's lessons
FLAG_PENALTY = 25
EXCERPT_CHARS = 160
WORD = re.compile(r"\w+")
STOPWORDS = frozenset(
    [
        "about",
        "above",
        "after",
        "also",
        "among",
        "and",
        "are",
        "because",
        "been",
        "before",
        "being",
        "between",
        "both",
        "but",
        "can",
        "could",
        "does",
        "each",
        "from",
        "have",
        "how",
        "into",
        "its",
        "more",
        "most",
        "other",
        "over",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "using",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "within",
        "without",
        "your",
    ]
)

LOOKUPS_OFFLINE = "Readings, links and pictures were not checked: no LLM key is set (offline mode)."
LOOKUPS_DISABLED = "Readings, links and pictures were not checked: outside lookups are turned off."
READINGS_PENDING = "Some readings have not been looked up yet."
LINKS_PENDING = "Some links have not been checked yet."
LEVEL_ENGLISH_ONLY = "Reading level is measured for English lessons only."
JUDGE_MISSING = "No LLM judge has evaluated this course (manage.py evaluate_course)."
HOLD_SCORE = "The quality score is below the level that holds a course for review ({minimum})."
HOLD_REPEATS = "Lessons repeat each other: at least {minimum} near-identical paragraph pairs."

SUMMARY_QUIZ = "{supported} of {total} quiz answers point to the lesson passage that teaches them."
SUMMARY_NO_REPEATS = "No lesson repeats another."
SUMMARY_REPEATS = "{count} passages are near-copies of a passage in another lesson."
SUMMARY_READINGS = "{verified} of {checked} suggested readings were found in library catalogues."
SUMMARY_READINGS_UNCHECKED = "The suggested readings have not been checked against library catalogues."
SUMMARY_LINKS = "{dead} of {checked} links did not work when checked."
SUMMARY_LINKS_OK = "Every link worked when checked."
SUMMARY_LINKS_NOT_PAGES = "{count} of {checked} links lead to a file to download rather than a page."

PART_LABELS = {
    "quizzes": "Quiz questions free of writing flaws",
    "grounding": "Quiz answers supported by a lesson",
    "length": "Lessons of the asked length",
    "coverage": "Objectives covered by the week's lessons",
    "repetition": "Lessons free of repetition",
    "readings": "Readings verified",
    "links": "Links alive and leading to pages",
    "flags": "No open moderation flags",
    "judge": "LLM judge",
}


@dataclass(frozen=True)
class CourseText:
    course: Course
    weeks: list[Week]
    lessons: list[Lesson]
    quizzes: list[Quiz]


def lookups_enabled() -> bool:
    return settings.QUALITY_LOOKUPS and not llm.is_offline()


def lookups_off_reason() -> str:
    return LOOKUPS_OFFLINE if llm.is_offline() else LOOKUPS_DISABLED


def report_compute(*, course_id: UUID) -> QualityReport:
    """Measure the course as it now reads, store the report, and hold the course if a threshold says so."""
    text = _load(course_id)
    findings: dict[str, Any] = {}
    unchecked: list[str] = []
    parts: dict[str, int] = {}
    parts.update(_questions(text, findings))
    parts.update(_lessons(text, findings, unchecked))
    parts.update(_repetition(text, findings))
    parts.update(_readings(text, findings, unchecked))
    parts.update(_links(text, findings, unchecked))
    parts.update(_pictures_and_flags(text, findings))
    report, _ = QualityReport.objects.get_or_create(course=text.course)
    parts.update(_judge_part(report, unchecked))
    report.parts, report.findings, report.unchecked = parts, findings, unchecked
    report.score = round(sum(parts.values()) / len(parts)) if parts else None
    report.content_version, report.computed_at = text.course.content_version, timezone.now()
    summary, report.summary = report.summary, learner_summary(findings)
    fields = ["parts", "findings", "unchecked", "score", "content_version", "computed_at", "summary"]
    report.save(update_fields=fields)
    if summary != report.summary:  # the course page shows it: its cached copies key on `updated_at`
        Course.objects.filter(pk=course_id).update(updated_at=timezone.now())
    _hold_if_below_thresholds(text.course, report)
    return report


def learner_summary(findings: dict[str, Any]) -> list[str]:
    """What the course page tells learners: what was measured and found, never a check that did not run."""
    lines = []
    questions = findings.get("questions") or {}
    if questions.get("total"):
        supported = questions["total"] - len(questions.get("unsupported", []))
        lines.append(SUMMARY_QUIZ.format(supported=supported, total=questions["total"]))
    repeats = len(findings.get("repetition") or [])
    lines.append(SUMMARY_REPEATS.format(count=repeats) if repeats else SUMMARY_NO_REPEATS)
    readings = findings.get("readings") or {}
    if readings.get("checked"):
        lines.append(SUMMARY_READINGS.format(verified=readings["verified"], checked=readings["checked"]))
    elif readings.get("total"):
        lines.append(SUMMARY_READINGS_UNCHECKED)
    links_found = findings.get("links") or {}
    if links_found.get("checked"):
        checked = links_found["checked"]
        dead, not_pages = len(links_found.get("dead") or []), len(links_found.get("not_pages") or [])
        if dead:
            lines.append(SUMMARY_LINKS.format(dead=dead, checked=checked))
        if not_pages:
            lines.append(SUMMARY_LINKS_NOT_PAGES.format(count=not_pages, checked=checked))
        if not dead and not not_pages:
            lines.append(SUMMARY_LINKS_OK)
    return lines


def _load(course_id: UUID) -> CourseText:
    course = Course.objects.get(id=course_id)
    weeks = list(Week.objects.filter(course=course).order_by("number"))
    lessons = list(
        Lesson.objects.filter(course=course).select_related("week").order_by("week__number", "number")
    )
    quizzes_ = list(Quiz.objects.filter(course=course).select_related("week").order_by("week__number"))
    return CourseText(course, weeks, lessons, quizzes_)


def _percent(good: int, total: int) -> int:
    return round(100 * good / total) if total else 100


def _questions(text: CourseText, findings: dict[str, Any]) -> dict[str, int]:
    bodies = {(lesson.week_id, lesson.number): lesson.body for lesson in text.lessons}
    flaws, unsupported, answers = [], [], []
    for quiz in text.quizzes:
        for number, question in enumerate(quiz.questions or [], start=1):
            answers.append(int(question.get("answer", 0)))
            where = {"week": quiz.week.number, "question": number, "text": str(question.get("question", ""))}
            for code in quizzes.question_flaws(question):
                flaws.append({**where, "code": code, "label": quizzes.FLAW_LABELS[code]})
            body = bodies.get((quiz.week_id, question.get("lesson")), "")
            if not question.get("passage") or not passages.passage_found(str(question["passage"]), body):
                unsupported.append(where)
    bias = quizzes.position_bias(answers)
    findings["questions"] = {
        "total": len(answers),
        "flaws": flaws,
        "unsupported": unsupported,
        "position_bias": bias,
    }
    if not answers:
        return {}
    flawed = len({(flaw["week"], flaw["question"]) for flaw in flaws}) + (len(answers) // 4 if bias else 0)
    return {
        "quizzes": max(0, _percent(len(answers) - flawed, len(answers))),
        "grounding": _percent(len(answers) - len(unsupported), len(answers)),
    }


def _lessons(text: CourseText, findings: dict[str, Any], unchecked: list[str]) -> dict[str, int]:
    words_min, words_max = LESSON_WORDS
    english = text.course.language == "en"
    if not english:
        unchecked.append(LEVEL_ENGLISH_ONLY)
    rows, in_range = [], 0
    for lesson in text.lessons:
        plain = passages.plain(lesson.body)
        words = len(plain.split())
        in_range += words_min <= words <= words_max
        rows.append(
            {
                "id": lesson.pk,
                "week": lesson.week.number,
                "number": lesson.number,
                "title": lesson.title,
                "words": words,
                "in_range": words_min <= words <= words_max,
                "grade": round(textstat.flesch_kincaid_grade(plain), 1) if english and plain else None,
            }
        )
    findings["lessons"] = rows
    findings["words_range"] = [words_min, words_max]
    findings["objectives"] = objectives = _coverage(text)
    parts = {"length": _percent(in_range, len(rows))} if rows else {}
    if objectives:
        parts["coverage"] = _percent(sum(item["covered"] for item in objectives), len(objectives))
    return parts


def _coverage(text: CourseText) -> list[dict[str, Any]]:
    """Each objective covered when most of its content words (after its verb) appear in the week's lessons."""
    lesson_words: dict[int, set[str]] = {}
    for lesson in text.lessons:
        lesson_words.setdefault(lesson.week_id, set()).update(_content_words(lesson.body))
    rows = []
    for week in text.weeks:
        for objective in week.objectives or []:
            wanted = _content_words(" ".join(str(objective).split()[1:]))
            found = wanted & lesson_words.get(week.pk, set())
            covered = not wanted or len(found) / len(wanted) >= COVERAGE_MIN_SHARE
            rows.append({"week": week.number, "objective": str(objective), "covered": covered})
    return rows


def _content_words(text: str) -> set[str]:
    # Six letters stand in for a stem: "aqueduct" and "aqueducts" are one word here.
    words = WORD.findall(text.casefold())
    return {word[:6] for word in words if len(word) >= 4 and word not in STOPWORDS}


def _repetition(text: CourseText, findings: dict[str, Any]) -> dict[str, int]:
    labels = {lesson.pk: f"Week {lesson.week.number}, lesson {lesson.number}" for lesson in text.lessons}
    repeats = repetition.repeated_paragraphs({lesson.pk: lesson.body for lesson in text.lessons})
    findings["repetition"] = [
        {
            "first": {"lesson_id": repeat.first.lesson_id, "label": labels[repeat.first.lesson_id]},
            "second": {"lesson_id": repeat.second.lesson_id, "label": labels[repeat.second.lesson_id]},
            "excerpt": repeat.first.text[:EXCERPT_CHARS],
            "similarity": round(repeat.similarity, 2),
        }
        for repeat in repeats
    ]
    involved = {repeat.first.lesson_id for repeat in repeats} | {
        repeat.second.lesson_id for repeat in repeats
    }
    return (
        {"repetition": _percent(len(text.lessons) - len(involved), len(text.lessons))} if text.lessons else {}
    )


def _readings(text: CourseText, findings: dict[str, Any], unchecked: list[str]) -> dict[str, int]:
    items = [item for week in text.weeks for item in week.reading_list or [] if isinstance(item, dict)]
    checked = [item for item in items if item.get("checked")]
    verified = [item for item in checked if item.get("verified")]
    findings["readings"] = {
        "total": len(items),
        "checked": len(checked),
        "verified": len(verified),
        "not_verified": [str(item.get("title", "")) for item in checked if not item.get("verified")],
    }
    if lookups_enabled() and len(checked) < len(items):
        unchecked.append(READINGS_PENDING)
    return {"readings": _percent(len(verified), len(checked))} if checked else {}


def _links(text: CourseText, findings: dict[str, Any], unchecked: list[str]) -> dict[str, int]:
    urls = links.course_links(weeks=text.weeks, lessons=text.lessons)
    checks = {check.url: check for check in LinkCheck.objects.filter(url__in=urls)}
    dead = [{"url": url, "detail": check.detail} for url, check in checks.items() if check.ok is False]
    not_pages = [
        {"url": url, "content_type": check.content_type, "detail": check.problem}
        for url, check in checks.items()
        if check.ok and check.problem
    ]
    findings["links"] = {"total": len(urls), "checked": len(checks), "dead": dead, "not_pages": not_pages}
    if not lookups_enabled():
        unchecked.append(lookups_off_reason())
    elif len(checks) < len(urls):
        unchecked.append(LINKS_PENDING)
    return {"links": _percent(len(checks) - len(dead) - len(not_pages), len(checks))} if checks else {}


def _pictures_and_flags(text: CourseText, findings: dict[str, Any]) -> dict[str, int]:
    pictures = LessonPicture.objects.filter(course=text.course, removed_at__isnull=True)
    findings["pictures"] = {
        "lessons": len(text.lessons),
        "with_picture": pictures.count(),
        "licences": sorted(set(pictures.values_list("licence", flat=True))),
    }
    open_flags = ContentFlag.objects.filter(course=text.course, resolved_at__isnull=True).count()
    findings["flags"] = open_flags
    return {"flags": max(0, 100 - FLAG_PENALTY * open_flags)}


def _judge_part(report: QualityReport, unchecked: list[str]) -> dict[str, int]:
    scores = [
        score
        for entry in (report.judge or {}).get("lessons", []) + (report.judge or {}).get("weeks", [])
        for score in (entry.get("scores") or {}).values()
        if isinstance(score, int)
    ]
    if not scores:
        unchecked.append(JUDGE_MISSING)
        return {}
    return {"judge": round(20 * sum(scores) / len(scores))}  # the rubric scores 1-5


def _hold_if_below_thresholds(course: Course, report: QualityReport) -> None:
    problems = []
    minimum = settings.QUALITY_HOLD_SCORE_BELOW
    if minimum and report.score is not None and report.score < minimum:
        problems.append(Finding(code="quality", detail=HOLD_SCORE.format(minimum=minimum)))
    repeats, most = len(report.findings.get("repetition", [])), settings.QUALITY_HOLD_REPEATED_PARAGRAPHS
    if most and repeats >= most:
        problems.append(Finding(code="repetition", detail=HOLD_REPEATS.format(minimum=most)))
    if problems:
        review.course_hold(part=course, findings=problems)
