"""Asking the tutor: the gate every question passes, on the site or by email, before an answer is queued.

A question is refused before anything is stored when it is empty or too long, when the learner has used
today's allowance (`TUTOR_QUESTIONS_PER_DAY`, counted atomically in Redis so concurrent asks cannot slip
past it), or when today's LLM spend has reached its cap. Its meaning is screened by the worker, which may
wait on the moderation endpoint; the web process only stores the question and queues the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from courses.generation import llm
from courses.models import Lesson, LessonReport, TutorConversation, TutorMessage, Week
from courses.moderation import costs, review
from courses.tutor.selectors import stalled_before
from school.queue import enqueue_after_commit, enqueue_chain_after_commit
from school.ratelimit import rate_limit_hit, rate_limit_key, rate_limit_release

ANSWER_TASK = "courses.tasks.llm_tutor_answer"
QUESTION_EMPTY = "Please write your question first."
QUESTION_TOO_LONG = "Your question is too long: please keep it under {limit} characters."
ALLOWANCE_USED = (
    "You have asked the tutor {limit} questions today, the most for one day. Please come back tomorrow."
)
SPEND_CAP_REACHED = "The tutor has used today's budget and cannot answer now. Please try again tomorrow; the lessons are all here."
STILL_ANSWERING = "The tutor is still answering your last question; ask again once it has finished."
REPORT_DONE = "Thank you: a moderator will read this answer and the conversation."


class TutorError(ValueError):
    """A question the tutor does not take, with the reason the learner reads."""


def question_clean(question: str) -> str:
    """The question as it will be kept: stripped, and within limits (else TutorError, with the reason)."""
    question = question.replace("\x00", "").strip()
    if not question:
        raise TutorError(QUESTION_EMPTY)
    limit = settings.TUTOR_QUESTION_MAX_CHARS
    if len(question) > limit:
        raise TutorError(QUESTION_TOO_LONG.format(limit=limit))
    return question


def tutor_ask(
    *,
    user: User,
    week: Week,
    lesson: Lesson | None,
    question: str,
    source: str = TutorMessage.Source.WEB,
    then: Sequence[tuple[str, tuple[Any, ...]]] = (),
) -> TutorMessage:
    """Store a question in the learner's conversation about `lesson` (or, without one, about `week`) and queue
    its answer; `then` are tasks to run after the answer is written (e.g. mailing it). Raises TutorError."""
    question = question_clean(question)
    # Today's spend counter in Redis (calls in flight included), not the sum of today's recorded calls: fifty
    # learners asking at once would each sum the day's rows in SQL.
    if not llm.is_offline() and not costs.spend_budget_left():
        raise TutorError(SPEND_CAP_REACHED)
    allowance = _allowance_key(user, timezone.localdate())
    if rate_limit_hit(key=allowance, limit=settings.TUTOR_QUESTIONS_PER_DAY, window_seconds=86400):
        rate_limit_release(key=allowance)
        raise TutorError(ALLOWANCE_USED.format(limit=settings.TUTOR_QUESTIONS_PER_DAY))
    try:
        with transaction.atomic():
            conversation, created = _conversation(user=user, week=week, lesson=lesson)
            if (
                source == TutorMessage.Source.WEB
                and not created  # a new conversation has no answer in progress
                and conversation.messages.filter(
                    status__in=[TutorMessage.Status.PENDING, TutorMessage.Status.WRITING],
                    created_at__gte=stalled_before(),  # a dead worker's answer does not block the next
                ).exists()
            ):
                raise TutorError(STILL_ANSWERING)
            message = TutorMessage.objects.create(conversation=conversation, question=question, source=source)
            if not created:  # a new conversation's updated_at is already now
                conversation.save(update_fields=["updated_at"])
            jobs = [(ANSWER_TASK, (message.id,)), *then]
            if len(jobs) == 1:
                enqueue_after_commit(ANSWER_TASK, message.id)
            else:
                enqueue_chain_after_commit(jobs)
    except TutorError:
        rate_limit_release(key=allowance)
        raise
    return message


def _allowance_key(user: User, day: date) -> str:
    return rate_limit_key("tutor-questions", user.pk, day.isoformat())


def _conversation(*, user: User, week: Week, lesson: Lesson | None) -> tuple[TutorConversation, bool]:
    return TutorConversation.objects.select_for_update().get_or_create(
        user=user, week=week, lesson=lesson, defaults={"course_id": week.course_id}
    )


def tutor_answer_report(*, message: TutorMessage, user: User, comment: str = "") -> LessonReport:
    """A learner reports an answer: it reaches the moderators' queue as a report on the lesson, quoting the
    conversation up to that answer."""
    conversation = message.conversation
    if conversation.user_id != user.pk or conversation.lesson is None:
        raise TutorError("You can only report answers from your own conversations about a lesson.")
    transcript = "\n\n".join(
        f"Q: {earlier.question}\nA: {earlier.answer}"
        for earlier in conversation.messages.filter(id__lte=message.id).order_by("id")
    )
    report = review.lesson_report(
        lesson=conversation.lesson,
        reason=LessonReport.Reason.TUTOR,
        comment=comment,
        quoted_text=transcript,
        reporter=user,
    )
    if report.tutor_message_id != message.id:
        report.tutor_message = message
        report.save(update_fields=["tutor_message"])
    return report
