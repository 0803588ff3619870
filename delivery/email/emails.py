"""One function per email that the delivery app sends; three templates each in templates/delivery/emails/.

The weekly email is rendered ONCE per course-week with placeholders where each recipient's own links go;
`week_email_personal` gives one recipient's values for them (SendGrid substitutions, or a local replace when
mail goes through Django's backend).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from courses.models import Course, PartStatus, Quiz, TutorMessage, Week
from courses.rendering import markdown_to_safe_html
from courses.selectors import reading_minutes, week_with_lessons_and_quiz
from delivery.email import links, tokens
from delivery.models import Subscription

MANAGE = "%sem:manage%"
UNSUBSCRIBE = "%sem:unsubscribe%"
CALENDAR = "%sem:calendar%"
WEEK_DONE = "%sem:done%"
ASK = "%sem:ask%"  # the recipient's ask token, which a reply carries back (subject, body, Reply-To)
WEEK_EMAIL_CACHE_SECONDS = 600
CATEGORY_WEEK = "weekly-lesson"

# Email clients ignore <style> blocks often enough that every element carries its own style.
_INLINE_STYLES = {
    "h1": "margin:24px 0 8px;font:bold 22px/1.3 Georgia,serif;color:#1f2328;",
    "h2": "margin:24px 0 8px;font:bold 19px/1.3 Georgia,serif;color:#1f2328;",
    "h3": "margin:20px 0 6px;font:bold 17px/1.3 Georgia,serif;color:#1f2328;",
    "h4": "margin:16px 0 6px;font:bold 16px/1.3 Georgia,serif;color:#1f2328;",
    "p": "margin:0 0 14px;font:16px/1.6 Georgia,serif;color:#1f2328;",
    "ul": "margin:0 0 14px;padding-left:22px;font:16px/1.6 Georgia,serif;color:#1f2328;",
    "ol": "margin:0 0 14px;padding-left:22px;font:16px/1.6 Georgia,serif;color:#1f2328;",
    "li": "margin:0 0 4px;",
    "a": "color:#1d5fb4;text-decoration:underline;",
    "blockquote": "margin:0 0 14px;padding:4px 14px;border-left:3px solid #d8d2c4;color:#4a4f57;",
    "pre": "margin:0 0 14px;padding:12px;background:#f6f4ef;border-radius:4px;overflow:auto;"
    "font:13px/1.5 Menlo,Consolas,monospace;white-space:pre-wrap;",
    "code": "font:14px Menlo,Consolas,monospace;background:#f6f4ef;",
    "table": "border-collapse:collapse;margin:0 0 14px;font:15px/1.5 Arial,sans-serif;",
    "th": "border:1px solid #d8d2c4;padding:6px 8px;text-align:left;",
    "td": "border:1px solid #d8d2c4;padding:6px 8px;",
}
_TAG = re.compile(r"<(" + "|".join(_INLINE_STYLES) + r")(?=[\s>])")


def answer_placeholder(question: int, choice: int) -> str:
    return f"%sem:answer:{question}:{choice}%"


def inline_styles(safe_html: str) -> str:
    """Give each tag of sanitized HTML an inline style (the sanitizer allows no style attribute of its own)."""
    return _TAG.sub(lambda match: f'<{match[1]} style="{_INLINE_STYLES[match[1]]}"', safe_html)


# ---------------------------------------------------------------------------------------------------------
# The weekly lesson email
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeekEmail:
    """A week's email shared by every recipient; per-recipient links are placeholders."""

    course_id: str
    week_id: int
    week_number: int
    quiz_id: int | None
    options_per_question: tuple[int, ...]
    subject: str
    text: str
    html: str
    reply_to: str = ""  # where replies go when the tutor takes them: ask@<inbound domain>


@dataclass(frozen=True)
class Personal:
    substitutions: dict[str, str]
    headers: dict[str, str]
    reply_to: str = ""  # this recipient's own reply address, ask+<token>@<inbound domain>


def replies_enabled() -> bool:
    """Replies to the weekly email reach the tutor only once Inbound Parse is set up (domain and secret)."""
    return bool(settings.SENDGRID_INBOUND_DOMAIN and settings.SENDGRID_INBOUND_SECRET)


def ask_address(token: str = "") -> str:
    local = f"ask+{token}" if token else "ask"
    return f"{local}@{settings.SENDGRID_INBOUND_DOMAIN}"


def week_email(*, course: Course, week_number: int) -> WeekEmail:
    """The shared email of one course-week, cached: each chunk of 1,000 recipients reuses it. The course's
    content version is in the key, so a moderator's rewrite is mailed from the next batch on."""
    full = int(settings.DELIVERY_EMAIL_FULL_LESSONS)
    key = f"delivery:week-email:v2:{course.id}:{week_number}:{course.content_version}:{full}:{replies_enabled()}"
    cached: WeekEmail | None = cache.get(key)
    if cached is None:
        cached = week_email_render(week=week_with_lessons_and_quiz(course_id=course.id, number=week_number))
        cache.set(key, cached, WEEK_EMAIL_CACHE_SECONDS)
    return cached


# SendGrid fills each recipient's `%sem:…%` placeholders anywhere in the body, LLM text included: a lesson that
# wrote "%sem:unsubscribe%" would carry the reader's own unsubscribe link. So the email is rendered with our
# placeholders in a form no text can guess (a nonce per render), every placeholder-like or template-like
# sequence in the result is broken with a zero-width space, and only then are ours put back.
_PLACEHOLDER_LIKE = re.compile(r"%(?=[A-Za-z_{])|\{(?=[{%])")


def template_syntax_neutralised(text: str) -> str:
    """`text` with "%name", "{{" and "{%" broken by a zero-width space: shown the same, substituted never."""
    return _PLACEHOLDER_LIKE.sub(lambda match: match.group() + "\u200b", text)


def week_email_render(*, week: Week) -> WeekEmail:
    course = week.course
    quiz = _written_quiz(week)
    # Stands for "%" in our own placeholders until the end; letters and digits only, since the subject's
    # rendering turns control characters into spaces.
    mark = f"sem{secrets.token_hex(8)}mark"

    def ours(placeholder: str) -> str:
        return placeholder.replace("%", mark)

    context = {
        "course": course,
        "week": week,
        "overview_html": inline_styles(week.overview_safe_html),
        "lessons": [_lesson_context(course, week, lesson) for lesson in week.lessons.all()],
        # Only the first question: the rest follow on the page its answer opens, a click each.
        "questions": _quiz_context(quiz, ours)[:1],
        "more_questions": max(0, len(quiz.questions) - 1) if quiz else 0,
        "full_lessons": settings.DELIVERY_EMAIL_FULL_LESSONS,
        "links": {
            "manage": ours(MANAGE),
            "unsubscribe": ours(UNSUBSCRIBE),
            "calendar": ours(CALENDAR),
            "done": ours(WEEK_DONE),
        },
        "course_url": links.course_url(course.id),
        "ask": ours(ASK) if replies_enabled() else "",
    }
    return WeekEmail(
        course_id=str(course.id),
        week_id=week.id,
        week_number=week.number,
        quiz_id=quiz.id if quiz else None,
        # Only the first question is in the email: its links are the only ones to sign per recipient.
        options_per_question=tuple(len(q["options"]) for q in quiz.questions[:1]) if quiz else (),
        reply_to=ask_address() if replies_enabled() else "",
        **{
            part: template_syntax_neutralised(rendered).replace(mark, "%")
            for part, rendered in _render("week", context).items()
        },
    )


def week_email_personal(email: WeekEmail, *, subscription_id: int, link_generation: int) -> Personal:
    """One recipient's links for the shared email, and the RFC 8058 unsubscribe headers."""
    urls = links.subscription_urls(subscription_id=subscription_id, generation=link_generation)
    substitutions = {
        MANAGE: urls["manage"],
        UNSUBSCRIBE: urls["unsubscribe"],
        CALENDAR: urls["calendar"],
        WEEK_DONE: links.week_done_url(subscription_id=subscription_id, week_id=email.week_id),
    }
    if email.quiz_id is not None:
        answers = links.answer_urls(
            subscription_id=subscription_id,
            quiz_id=email.quiz_id,
            options_per_question=email.options_per_question,
        )
        for question, choices in enumerate(answers):
            for choice, url in enumerate(choices):
                substitutions[answer_placeholder(question, choice)] = url
    if not email.reply_to:
        return Personal(substitutions, unsubscribe_headers(urls["unsubscribe"]))
    token = tokens.ask_token(subscription_id=subscription_id, week_id=email.week_id)
    substitutions[ASK] = token
    return Personal(substitutions, unsubscribe_headers(urls["unsubscribe"]), ask_address(token))


def unsubscribe_headers(unsubscribe_url: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _written_quiz(week: Week) -> Quiz | None:
    try:
        quiz = week.quiz
    except Quiz.DoesNotExist:
        return None
    return quiz if quiz.status == PartStatus.WRITTEN and quiz.questions else None


def _lesson_context(course: Course, week: Week, lesson: Any) -> dict[str, Any]:
    full = settings.DELIVERY_EMAIL_FULL_LESSONS
    opening = lesson_opening(lesson.body)
    return {
        "number": lesson.number,
        "title": lesson.title,
        "html": inline_styles(lesson.body_safe_html if full else markdown_to_safe_html(opening)),
        "text": lesson.body.strip() if full else opening,
        "minutes": reading_minutes(len(lesson.body)),
        "url": links.lesson_url(course_id=course.id, week=week.number, lesson=lesson.number),
        "picture": lesson.shown_picture,
    }


OPENING_WORDS = 60  # about a paragraph: enough to know what the lesson is about


def lesson_opening(body: str) -> str:
    """The lesson's first paragraphs up to its second section (no headings, lists or code), cut to about
    OPENING_WORDS words."""
    kept: list[str] = []
    words = 0
    for block in body.strip().split("\n\n"):
        text = " ".join(block.split())
        if kept and text.startswith("#"):
            break
        if not text or text.startswith(("#", "```", "- ", "* ", "|", ">")) or text[0].isdigit():
            continue
        remaining = OPENING_WORDS - words
        parts = text.split()
        kept.append(" ".join(parts[:remaining]) + (" …" if len(parts) > remaining else ""))
        words += min(len(parts), remaining)
        if words >= OPENING_WORDS:
            break
    return "\n\n".join(kept)


def _quiz_context(quiz: Quiz | None, ours: Callable[[str], str]) -> list[dict[str, Any]]:
    if quiz is None:
        return []
    return [
        {
            "number": n + 1,
            "text": question["question"],
            "options": [
                {"letter": chr(ord("A") + c), "text": option, "url": ours(answer_placeholder(n, c))}
                for c, option in enumerate(question["options"])
            ],
        }
        for n, question in enumerate(quiz.questions)
    ]


# ---------------------------------------------------------------------------------------------------------
# Transactional emails, sent one at a time through Django's email backend (SendGrid when configured)
# ---------------------------------------------------------------------------------------------------------
def send_confirmation(subscription: Subscription) -> None:
    """Double opt-in: the link that confirms the address; nothing else is sent before it is clicked."""
    context = {
        "subscription": subscription,
        "course": subscription.course,
        "confirm_url": links.confirm_url(subscription_id=subscription.id, email=subscription.email),
        "max_age_days": settings.DELIVERY_CONFIRM_MAX_AGE_SECONDS // 86400,
    }
    _send("confirm", to=subscription.email, context=context)


def send_already_subscribed(subscription: Subscription) -> None:
    """Someone asked again for a course this address already receives: send its manage link, change nothing."""
    _send_manage_link("already_subscribed", subscription)


def send_links_replaced(subscription: Subscription) -> None:
    """The learner replaced their links: the new manage link goes only to the address, never to the page."""
    _send_manage_link("links_replaced", subscription)


def _send_manage_link(template: str, subscription: Subscription) -> None:
    manage_url = links.manage_url(subscription_id=subscription.id, generation=subscription.link_generation)
    context = {"subscription": subscription, "course": subscription.course, "manage_url": manage_url}
    _send(template, to=subscription.email, context=context)


def send_tutor_reply(
    *,
    to: str,
    subject: str,
    message: TutorMessage,
    week: Week,
    in_reply_to: str,
    references: str,
    reply_to: str,
) -> None:
    """The tutor's answer to a reply, in the reply's thread. Marked as an automatic reply (RFC 3834), so the
    learner's own autoresponder does not answer it."""
    context = {
        "subject": subject if subject.lower().startswith("re:") else f"Re: {subject}".strip(),
        "message": message,
        "answer_html": inline_styles(message.answer_safe_html),
        "week": week,
        "course": week.course,
        "course_url": links.course_url(week.course_id),
    }
    rendered = _render("tutor_reply", context)
    headers = {"In-Reply-To": in_reply_to, "References": references, "Auto-Submitted": "auto-replied"}
    email = EmailMultiAlternatives(
        rendered["subject"], rendered["text"], to=[to], headers=headers, reply_to=[reply_to]
    )
    email.attach_alternative(rendered["html"], "text/html")
    email.send()


def send_tutor_refusal(
    *, to: str, subject: str, why: str, week: Week, in_reply_to: str, references: str, reply_to: str
) -> None:
    """Why the tutor does not answer a reply, in the reply's thread; an automatic reply (RFC 3834), like the
    answer, so no autoresponder answers it back."""
    context = {
        "subject": subject if subject.lower().startswith("re:") else f"Re: {subject}".strip(),
        "why": why,
        "week": week,
        "course": week.course,
        "course_url": links.course_url(week.course_id),
    }
    rendered = _render("tutor_refusal", context)
    headers = {"In-Reply-To": in_reply_to, "References": references, "Auto-Submitted": "auto-replied"}
    email = EmailMultiAlternatives(
        rendered["subject"], rendered["text"], to=[to], headers=headers, reply_to=[reply_to]
    )
    email.attach_alternative(rendered["html"], "text/html")
    email.send()


def _send(kind: str, *, to: str, context: dict[str, Any]) -> None:
    rendered = _render(kind, context)
    message = EmailMultiAlternatives(rendered["subject"], rendered["text"], to=[to])
    message.attach_alternative(rendered["html"], "text/html")
    message.send()


def _render(kind: str, context: dict[str, Any]) -> dict[str, str]:
    context = {**context, "site_url": settings.SITE_URL}
    subject = render_to_string(f"delivery/emails/{kind}/subject.txt", context)
    return {
        "subject": " ".join(subject.split()),
        "text": render_to_string(f"delivery/emails/{kind}/body.txt", context),
        "html": render_to_string(f"delivery/emails/{kind}/body.html", context),
    }
