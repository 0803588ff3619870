"""Absolute URLs that go into emails and calendar feeds.

Per-recipient links are built by replacing a token in a URL reversed once, because the weekly batch builds
about twenty of them for every one of up to 100,000 recipients.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.urls import reverse

from delivery.email import tokens

_TOKEN = "TOKEN"


def lesson_url(*, course_id: object, week: int, lesson: int) -> str:
    """The website's page of a lesson, by its place in the course: links in emails outlive rewrites."""
    return f"{settings.SITE_URL}{reverse('delivery:lesson_at', args=[course_id, week, lesson])}"


def quiz_url(*, course_id: object, week: int) -> str:
    """The website's page of a week's quiz (with the learner's results once they are signed in)."""
    return f"{settings.SITE_URL}{reverse('delivery:quiz', args=[course_id, week])}"


def course_url(course_id: object) -> str:
    """The website's page of a course."""
    return f"{settings.SITE_URL}{reverse('delivery:course', args=[course_id])}"


@functools.cache
def _pattern(site_url: str, name: str) -> str:
    return site_url + reverse(f"delivery:{name}", args=[_TOKEN])


def _url(name: str, token: str) -> str:
    return _pattern(settings.SITE_URL, name).replace(_TOKEN, token, 1)


def confirm_url(*, subscription_id: int, email: str) -> str:
    return _url("confirm", tokens.confirm_token(subscription_id=subscription_id, email=email))


def manage_url(*, subscription_id: int, generation: int) -> str:
    return _url("manage", tokens.manage_token(subscription_id=subscription_id, generation=generation))


def unsubscribe_url(*, subscription_id: int, generation: int) -> str:
    return _url("unsubscribe", tokens.manage_token(subscription_id=subscription_id, generation=generation))


def calendar_url(*, subscription_id: int, generation: int) -> str:
    return _url("calendar", tokens.calendar_token(subscription_id=subscription_id, generation=generation))


def subscription_urls(*, subscription_id: int, generation: int) -> dict[str, str]:
    """manage and unsubscribe links (sharing one signature) and the calendar's (read-only, its own)."""
    token = tokens.manage_token(subscription_id=subscription_id, generation=generation)
    return {
        "manage": _url("manage", token),
        "unsubscribe": _url("unsubscribe", token),
        "calendar": calendar_url(subscription_id=subscription_id, generation=generation),
    }


def answer_urls(
    *, subscription_id: int, quiz_id: int, options_per_question: tuple[int, ...]
) -> list[list[str]]:
    """Every answer link of a quiz for one subscriber: [question][choice] → URL, each signed on its own."""
    prefix, suffix = _pattern(settings.SITE_URL, "quiz_answer").split(_TOKEN, 1)
    sign = tokens.answer_signer()
    return [
        [
            f"{prefix}{sign(f'{subscription_id}.{quiz_id}.{question}.{choice}')}{suffix}"
            for choice in range(options)
        ]
        for question, options in enumerate(options_per_question)
    ]


def week_done_url(*, subscription_id: int, week_id: int) -> str:
    return _url("week_done", tokens.week_done_token(subscription_id=subscription_id, week_id=week_id))
