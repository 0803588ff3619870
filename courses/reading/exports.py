"""A whole course as one file: Markdown (built on request) and PDF (rendered once per content version by a
task on the "cpu" queue, then kept in the default storage until the course changes)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from courses.models import Course, Lesson, PartStatus, Quiz, Week
from courses.reading import pdf
from courses.selectors import course_for_export
from school.queue import enqueue_after_commit

logger = logging.getLogger(__name__)

PDF_QUEUED = "queued"
PDF_RENDERING = "rendering"
PDF_READY = "ready"
PDF_FAILED = "failed"
PDF_STAGE_QUEUED = "Waiting for a free worker"
PDF_FAILED_MESSAGE = "The PDF could not be made. Please try again in a few minutes."
# A render claimed but silent for this long is presumed lost (its worker died), and may be asked for again.
PDF_CLAIM_SECONDS = 15 * 60
PDF_FAILED_SECONDS = 10 * 60


@dataclass(frozen=True)
class PdfState:
    state: str  # "missing", or one of the PDF_* states above
    stage: str = ""
    started_at: str = ""
    error: str = ""

    @property
    def is_ready(self) -> bool:
        return self.state == PDF_READY


def export_filename(course: Course, extension: str) -> str:
    slug = slugify(course.title or course.topic)[:60].strip("-") or "course"
    return f"{slug}.{extension}"


# --- Markdown ---------------------------------------------------------------------------------------------


OFFLINE_NOTE = "Written by Semester's built-in offline generator, not by an AI model."
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ATX_HEADING = re.compile(r"^(#{1,6})(\s)")
FENCE = re.compile(r"^\s*(```|~~~)")


def course_markdown(*, course: Course) -> str:
    """The whole course as one Markdown document. `course` comes from `course_for_export`."""
    weeks = list(course.weeks.all())
    lines = [f"# {course.title or course.topic}", "", course.description, ""]
    if course.audience:
        lines += [f"*For: {course.audience}*", ""]
    if course.is_offline:
        lines += [f"> {OFFLINE_NOTE}", ""]
    lines += ["## Contents", ""]
    lines += [f"{week.number}. {week.title}" for week in weeks]
    for week in weeks:
        lines += ["", "---", "", *_week_markdown(week)]
    lines += ["", "---", "", "## Answer key", ""]
    for week in weeks:
        lines += _answers_markdown(week)
    return "\n".join(lines).strip() + "\n"


def _week_markdown(week: Week) -> list[str]:
    lines = [f"## Week {week.number}: {week.title}", "", week.overview, ""]
    if week.objectives:
        lines += ["**By the end of this week you will be able to:**", ""]
        lines += [f"- {objective}" for objective in week.objectives] + [""]
    for lesson in week.lessons.all():
        lines += [f"### Lesson {week.number}.{lesson.number}: {lesson.title}", ""]
        lines += [
            _shift_headings(lesson.body, by=2)
            if lesson.status == PartStatus.WRITTEN
            else "*Not written yet.*"
        ]
        lines += [""]
    if week.reading_list:
        lines += ["### Further reading", ""]
        lines += [_reading_markdown(item) for item in shown_readings(week.reading_list)] + [""]
    quiz = _written_quiz(week)
    if quiz is not None:
        lines += [f"### Week {week.number} quiz", ""]
        for n, question in enumerate(quiz.questions, start=1):
            lines += [f"{n}. {question['question']}", ""]
            lines += [f"    {LETTERS[i]}. {option}" for i, option in enumerate(question["options"])] + [""]
    return lines


def _answers_markdown(week: Week) -> list[str]:
    quiz = _written_quiz(week)
    if quiz is None:
        return []
    lines = [f"### Week {week.number}", ""]
    for n, question in enumerate(quiz.questions, start=1):
        lines.append(f"{n}. **{LETTERS[int(question['answer'])]}**: {question['explanation']}")
    return [*lines, ""]


def _written_quiz(week: Week) -> Quiz | None:
    quiz = getattr(week, "quiz", None)
    return quiz if quiz is not None and quiz.status == PartStatus.WRITTEN and quiz.questions else None


def shown_readings(reading_list: list[Any]) -> list[dict[str, Any]]:
    """The readings to show, each with the verdict of its lookup (`courses.quality.readings`): "verified" with
    the catalogue's link, or "suggested, not verified" once looked up; those dropped by the setting are left out."""
    shown = []
    for item in reading_list or []:
        if not isinstance(item, dict) or item.get("hidden"):
            continue
        record = item.get("record") or {}
        verdict = (
            ""
            if not item.get("checked")
            else READING_VERIFIED
            if item.get("verified")
            else READING_UNVERIFIED
        )
        shown.append({**item, "url": item.get("url") or record.get("url", ""), "verdict": verdict})
    return shown


def _reading_markdown(item: dict[str, Any]) -> str:
    title = str(item.get("title", "")).strip() or "Untitled"
    url = str(item.get("url", "")).strip()
    line = f"- [{title}]({url})" if url.startswith(("http://", "https://")) else f"- {title}"
    if item.get("author"):
        line += f", {item['author']}"
    line += f": {item['note']}" if item.get("note") else ""
    return line + (f" ({item['verdict']})" if item.get("verdict") else "")


READING_VERIFIED = "verified in a library catalogue"
READING_UNVERIFIED = "suggested, not verified"


def _shift_headings(text: str, *, by: int) -> str:
    """Push a lesson's headings down `by` levels so they nest under the course's own (outside code blocks)."""
    out, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            line = ATX_HEADING.sub(lambda m: "#" * min(6, len(m.group(1)) + by) + m.group(2), line)
        out.append(line)
    return "\n".join(out).strip()


# --- PDF --------------------------------------------------------------------------------------------------


def pdf_storage_name(*, course_id: object, version: int) -> str:
    return f"exports/{course_id}/course-v{version}.pdf"


def _state_key(course_id: object, version: int) -> str:
    return f"pdf-state:{course_id}:{version}"


def course_pdf_state(*, course: Course) -> PdfState:
    name = pdf_storage_name(course_id=course.id, version=course.content_version)
    if default_storage.exists(name):
        return PdfState(state=PDF_READY)
    state = cache.get(_state_key(course.id, course.content_version))
    return PdfState(**state) if isinstance(state, dict) else PdfState(state="missing")


def course_pdf_request(*, course: Course, retry_failed: bool = False) -> PdfState:
    """The PDF's state, queueing its render unless it exists, is on its way, or failed (unless
    `retry_failed`: a failed render is shown as failed until someone asks again)."""
    state = course_pdf_state(course=course)
    if state.state != "missing" and not (state.state == PDF_FAILED and retry_failed):
        return state
    queued = {"state": PDF_QUEUED, "stage": PDF_STAGE_QUEUED, "started_at": timezone.now().isoformat()}
    key = _state_key(course.id, course.content_version)
    if state.state == PDF_FAILED:
        cache.delete(key)
    # add() is the claim: of two visitors asking at once, one queues the render.
    if cache.add(key, queued, timeout=PDF_CLAIM_SECONDS):
        course_id, version = str(course.id), course.content_version
        enqueue_after_commit("courses.tasks.render_course_pdf", course_id, version)
    return course_pdf_state(course=course)


def course_pdf_open(*, course: Course) -> File:
    return default_storage.open(pdf_storage_name(course_id=course.id, version=course.content_version), "rb")


def _set_state(course_id: object, version: int, **state: Any) -> None:
    timeout = PDF_FAILED_SECONDS if state.get("state") == PDF_FAILED else PDF_CLAIM_SECONDS
    cache.set(_state_key(course_id, version), state, timeout=timeout)


def course_pdf_build(*, course_id: str, version: int) -> str | None:
    """Render the course's PDF for `version` and store it; returns the storage name, or None when there is
    nothing to do (the course changed since, or the file is already there)."""
    course = course_for_export(course_id=course_id)
    if course is None or course.content_version != version:
        return None  # a newer version has been (or will be) asked for
    name = pdf_storage_name(course_id=course_id, version=version)
    if default_storage.exists(name):
        return name
    started = timezone.now().isoformat()

    def on_stage(stage: str) -> None:
        _set_state(course_id, version, state=PDF_RENDERING, stage=stage, started_at=started)

    content = pdf.pdf_from_html(html=course_pdf_html(course=course), on_stage=on_stage)
    if not default_storage.exists(name):  # a twin render may have stored it meanwhile
        default_storage.save(name, ContentFile(content))
    cache.delete(_state_key(course_id, version))
    return name


def course_pdf_failed(*, course_id: str, version: int, error: str) -> None:
    """Record a render that failed for good, so the waiting page says so instead of waiting forever."""
    logger.error("PDF of course %s v%s failed: %s", course_id, version, error)
    _set_state(course_id, version, state=PDF_FAILED, error=PDF_FAILED_MESSAGE)


@dataclass(frozen=True)
class AnswerKeyRow:
    number: int
    letter: str
    explanation: str
    review: str = ""  # "3.2, section ‘Siege engines’": where the answer is taught
    review_href: str = ""


# The ids sanitized lesson HTML may carry are its headings' ("s-…", see courses.rendering); one lesson's "s-why"
# is another's too, so in the one-document PDF each is prefixed with its lesson.
HEADING_ID = re.compile(r'(<h[1-6]\b[^>]*\sid=")(s-)')


def lesson_pdf_body(lesson: Lesson) -> str:
    """The lesson's sanitized HTML with heading ids unique across the whole course's document."""
    return HEADING_ID.sub(rf"\g<1>l{lesson.id}-\g<2>", lesson.body_safe_html)


def _review(question: dict[str, Any], week_number: int, lessons: dict[int, Lesson]) -> tuple[str, str]:
    """Where the question's answer is taught, and the in-document link there ("" if the lesson is not written)."""
    lesson = lessons.get(question.get("lesson") or 0)
    if lesson is None or lesson.status != PartStatus.WRITTEN:
        return "", ""
    label = f"{week_number}.{lesson.number}"
    if question.get("section") and question.get("anchor"):
        return f"{label}, section ‘{question['section']}’", f"#l{lesson.id}-{question['anchor']}"
    return label, f"#lesson-{lesson.id}"


def course_pdf_html(*, course: Course) -> str:
    weeks = list(course.weeks.all())
    for week in weeks:
        lessons = {lesson.number: lesson for lesson in week.lessons.all()}
        for lesson in lessons.values():
            lesson.pdf_body = lesson_pdf_body(lesson)  # type: ignore[attr-defined]
        quiz = _written_quiz(week)
        week.answer_key = [  # type: ignore[attr-defined]
            AnswerKeyRow(
                n,
                LETTERS[int(question["answer"])],
                question["explanation"],
                *_review(question, week.number, lessons),
            )
            for n, question in enumerate(quiz.questions if quiz else [], start=1)
        ]
        week.readings = shown_readings(week.reading_list)  # type: ignore[attr-defined]
    context = {
        "course": course,
        "weeks": weeks,
        "written": PartStatus.WRITTEN,
        "site_url": settings.SITE_URL,
        "generated_on": timezone.now(),
    }
    return render_to_string("courses/export/course_pdf.html", context)
