"""Writing an answer (in a Celery worker, on the "llm" queue): claim the question, screen it, stream the
answer into `live` as the model writes it, screen the answer, then keep it.

Only a whole, screened answer is kept as answered. An LLM error mid-answer keeps what was written as "cut
off" (the page says so and asks the learner to ask again); a flagged question or answer keeps a refusal.
Offline, the answer is the best-matching passages of the week's lessons, labelled as excerpts.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.utils import timezone

from courses.generation import llm
from courses.models import Lesson, PartStatus, TutorMessage
from courses.moderation import costs, screening
from courses.tutor import live, offline, prompts
from courses.tutor.asking import SPEND_CAP_REACHED

logger = logging.getLogger(__name__)

STAGE = "tutor"
# How often a growing answer is handed to the page after its first words (those go at once): the page then
# polls every 750 ms, so writing more often only costs the worker's CPU and Redis's, under the pages' feet.
LIVE_EVERY_SECONDS = 0.25
Status = TutorMessage.Status
CUT_OFF_NOTICE = "The answer was cut off. Please ask again."
QUESTION_REFUSED = (
    "The tutor cannot answer this question: it was flagged by Semester's content screening. "
    "Please ask about the course in other words."
)
ANSWER_WITHDRAWN = (
    "The tutor's answer was withdrawn: it was flagged by Semester's content screening. "
    "Please ask again in other words."
)


def tutor_answer_write(*, message_id: int) -> None:
    """Answer one question; safe to run twice (only a pending question is claimed)."""
    if not TutorMessage.objects.filter(pk=message_id, status=Status.PENDING).update(status=Status.WRITING):
        return
    message = TutorMessage.objects.select_related("conversation__week__course", "conversation__lesson").get(
        pk=message_id
    )
    try:
        _answer(message)
    except Exception as error:  # whatever broke, the learner must not wait on "being written" forever
        _finish(message, status=Status.CUT_OFF, answer=message.answer, error=repr(error)[:2000])
        raise


def _answer(message: TutorMessage) -> None:
    conversation = message.conversation
    week, course = conversation.week, conversation.week.course
    lessons = list(Lesson.objects.filter(week=week, status=PartStatus.WRITTEN).order_by("number"))
    # The moderation endpoint with a key, the local rules without, as for course text.
    verdict = screening.moderate_texts(texts=[message.question], course=course)
    if verdict.flagged:
        _finish(message, status=Status.REFUSED, answer=QUESTION_REFUSED, error=_why(verdict))
        return
    if llm.is_offline():  # the excerpts are the course's own text, screened when it was written
        answer = offline.excerpts_answer(question=message.question, lessons=lessons)
        message.kind = TutorMessage.Kind.EXCERPTS
        live.live_append(message.id, answer)
        _finish(message, status=Status.DONE, answer=answer)
        return
    # The counter, as the question's gate reads it: no sum of the day's calls.
    if not costs.spend_budget_left():
        _finish(message, status=Status.REFUSED, answer=SPEND_CAP_REACHED, error="daily spend cap reached")
        return
    history = list(
        conversation.messages.filter(status=Status.DONE, id__lt=message.id).order_by("-id")[
            : prompts.HISTORY_TURNS
        ]
    )[::-1]
    material = prompts.material(week=week, lesson=conversation.lesson, lessons=lessons)
    messages = prompts.tutor_messages(
        language=course.language, material=material, history=history, question=message.question
    )
    _stream(message, messages)


def _stream(message: TutorMessage, messages: list[dict[str, str]]) -> None:
    course = message.conversation.week.course
    pieces: list[str] = []
    shown, shown_at = 0, 0.0  # pieces handed to the page so far, and when
    try:
        for piece in llm.complete_stream(
            messages=messages, stage=STAGE, course=course, max_tokens=settings.TUTOR_ANSWER_MAX_TOKENS
        ):
            pieces.append(piece)
            # The first words at once; then at most one write per LIVE_EVERY_SECONDS, not one per token: fifty
            # answers at forty tokens a second would otherwise cost two thousand Redis writes a second (200).
            if not shown or time.monotonic() - shown_at >= LIVE_EVERY_SECONDS:
                live.live_append(message.id, "".join(pieces[shown:]))
                shown, shown_at = len(pieces), time.monotonic()
    except llm.LLMError as error:
        logger.warning("Tutor answer %s cut off: %s", message.id, error)
        live.live_append(message.id, "".join(pieces[shown:]))
        _finish(message, status=Status.CUT_OFF, answer="".join(pieces), error=str(error)[:2000])
        return
    live.live_append(message.id, "".join(pieces[shown:]))
    answer = "".join(pieces).strip()
    verdict = screening.moderate_texts(texts=[answer], course=course)
    if verdict.flagged:
        _finish(message, status=Status.REFUSED, answer=ANSWER_WITHDRAWN, error=_why(verdict))
        return
    _finish(message, status=Status.DONE, answer=answer)


def _why(verdict: screening.ScreeningResult) -> str:
    return "; ".join(finding.detail for finding in verdict.findings)[:2000]


def _finish(message: TutorMessage, *, status: str, answer: str, error: str = "") -> None:
    message.status, message.answer, message.error = status, answer, error
    message.answered_at = timezone.now()
    message.save(update_fields=["status", "answer", "error", "kind", "answered_at"])
    notice = CUT_OFF_NOTICE if status == Status.CUT_OFF else ""
    live.live_end(message.id, status=status, html=message.answer_safe_html, notice=notice)
