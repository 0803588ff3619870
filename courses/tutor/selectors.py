"""Reads for the tutor: a learner's conversation about a lesson (for the lesson page) and all their
conversations (for "My learning")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from courses.generation.llm import is_offline
from courses.models import Lesson, TutorConversation, TutorMessage
from courses.tutor import live


@dataclass
class ShownMessage:
    message: TutorMessage
    live_url: str = ""  # while the answer is being written: where the page polls for it
    stream_url: str = ""  # …or where it is pushed, when the ASGI server is set up (TUTOR_STREAM_URL)
    so_far: str = ""  # …and what was written when the page was made
    stalled: bool = False  # still "being written" long after any answer could take: its worker died

    @classmethod
    def being_written(cls, message: TutorMessage, *, so_far: str = "") -> ShownMessage:
        """An answer the page follows: polled at `live_url`, or pushed from `stream_url` where there is one."""
        return cls(message, live_url(message.id), stream_url(message.id), so_far)


@dataclass
class TutorPanel:
    ask_url: str
    question_max_chars: int
    offline: bool  # no LLM: the tutor quotes the lessons
    messages: list[ShownMessage] = field(default_factory=list)

    @property
    def answering(self) -> bool:
        return any(shown.message.is_open for shown in self.messages)


def tutor_panel(*, user: User, lesson: Lesson, asked: bool = True) -> TutorPanel:
    """The question box of a lesson's page, with the learner's conversation about it so far (one query; none
    when the caller knows the learner has not `asked` anything here)."""
    messages = (
        list(TutorMessage.objects.filter(conversation__user=user, conversation__lesson=lesson).order_by("id"))
        if asked
        else []
    )
    shown = []
    for message in messages:
        if message.is_open and message.created_at < stalled_before():
            shown.append(ShownMessage(message, stalled=True))
        elif message.is_open:
            shown.append(ShownMessage.being_written(message, so_far=live.live_read(message.id).text))
        else:
            shown.append(ShownMessage(message))
    return TutorPanel(
        ask_url=reverse("courses:tutor_ask", args=[lesson.course_id, lesson.id]),
        question_max_chars=settings.TUTOR_QUESTION_MAX_CHARS,
        offline=is_offline(),
        messages=shown,
    )


def stalled_before() -> datetime:
    """An answer still open that was asked before this will never end: its worker died (a task may run
    CELERY_TASK_TIME_LIMIT at most)."""
    return timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def live_url(message_id: int) -> str:
    return reverse("courses:tutor_live", args=[live.live_token(message_id)])


def stream_url(message_id: int) -> str:
    if not settings.TUTOR_STREAM_ORIGIN:
        return ""
    return settings.TUTOR_STREAM_ORIGIN + reverse("courses:tutor_stream", args=[live.live_token(message_id)])


def tutor_conversations(*, user: User) -> list[TutorConversation]:
    """The learner's conversations, latest first, with their course, week, lesson and question count."""
    return list(
        TutorConversation.objects.filter(user=user)
        .select_related("course", "week", "lesson")
        .annotate(questions=Count("messages"), last_asked_at=Max("messages__created_at"))
        .order_by("-last_asked_at", "-id")
    )
