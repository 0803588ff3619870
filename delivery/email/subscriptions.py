"""Writes to subscriptions: subscribe with double opt-in, confirm, change the schedule, pause, resume,
send the next week now, replace the links, unsubscribe.

Views and the API parse input and call one of these; each is safe to repeat (a second click changes nothing).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import email_inbox, email_normalise
from accounts.services import user_get_or_create_for_email
from courses.models import Course, Quiz, Week
from courses.selectors import course_is_emailable, quiz_with_course_and_week, week_with_course
from courses.visibility import course_is_withheld
from delivery.email import tokens
from delivery.email.schedule import schedule_next_slot, schedule_zone, slots_between, timezone_is_valid
from delivery.learning.progress import (
    ProgressError,
    QuestionResult,
    enrollment_touch,
    quiz_answer_record,
    quiz_answers_check,
    week_mark_done,
)
from delivery.models import Delivery, QuizAttempt, Source, Subscription, Suppression
from school.queue import enqueue_after_commit
from school.ratelimit import rate_limit_hit, rate_limit_key

COURSE_NOT_EMAILABLE = "This course cannot be received by email right now."
TOO_MANY_FOR_ADDRESS = "We have sent several emails to this address in the last hour. Please try again later."
TOO_MANY_FROM_NETWORK = "Too many subscription requests from your network. Please try again in an hour."
CONFIRM_LINK_INVALID = "This confirmation link is invalid or has expired. Subscribe again to get a new one."
SUBSCRIPTION_LINK_INVALID = "This link is not valid. It may have been cut short: try copying it whole."
LINK_REPLACED = (
    "This link has been replaced by a newer one, so it no longer works. Use the link in the newest email"
    " from Semester, or sign in and open My learning."
)
COURSE_WITHDRAWN = "This course is no longer available: it was withdrawn or is being reviewed."
NOT_ACTIVE = "This subscription is not active, so nothing can be sent now."
ALREADY_ON_ITS_WAY = "Your next week is already on its way."
COURSE_COMPLETE = "Every week of this course has already been sent."
RATE_WINDOW_SECONDS = 3600
# A schedule change never brings a week closer than this to the previous one.
MIN_GAP_AFTER_CHANGE = datetime.timedelta(hours=20)


class SubscriptionError(ValueError):
    """A request that cannot be done; the message is safe to show."""


class RateLimited(SubscriptionError):
    pass


class LinkReplaced(SubscriptionError):
    """A genuine link that the learner (or a change of ours) has retired: it is gone, not broken."""


@dataclass(frozen=True)
class Schedule:
    weekday: int
    send_time: datetime.time
    timezone: str

    def __post_init__(self) -> None:
        if not timezone_is_valid(self.timezone) or not 0 <= self.weekday <= 6:
            raise ValueError("invalid schedule")  # forms and the API validate first; this guards the rest


def subscription_request(
    *, course: Course, email: str, schedule: Schedule, send_first_now: bool = False, ip: str | None = None
) -> Subscription | None:
    """Ask for a course by email: double opt-in, so this only sends a confirmation link.

    The answer does not reveal whether the address already subscribed or is suppressed: an address that
    already receives the course gets its manage link instead, and a suppressed one gets nothing. Returns the
    subscription, or None for a suppressed address.
    """
    email = email_normalise(email)
    if not course_is_emailable(course):
        raise SubscriptionError(COURSE_NOT_EMAILABLE)
    _rate_limit(email=email, ip=ip)
    if Suppression.objects.filter(email=email).exists():
        return None
    with transaction.atomic():
        subscription, _ = Subscription.objects.select_for_update().get_or_create(
            email=email, course=course, defaults={"requester_ip": ip}
        )
        if subscription.is_live or subscription.status == Subscription.Status.FINISHED:
            _enqueue("send_already_subscribed_email", subscription.id)
            return subscription
        _set_schedule(subscription, schedule)
        subscription.send_first_now = send_first_now
        subscription.status = Subscription.Status.PENDING
        subscription.requester_ip = ip
        subscription.requested_at = timezone.now()
        subscription.save(
            update_fields=[
                "weekday", "send_time", "timezone", "send_first_now", "status", "requester_ip", "requested_at"
            ]
        )  # fmt: skip
        _enqueue("send_confirmation_email", subscription.id)
    return subscription


def subscriptions_unconfirmed_purge(*, now: datetime.datetime) -> int:
    """Forget the addresses nobody confirmed: a subscription never confirmed whose latest link has expired.
    Only subscribing again could start it, which makes a new one, so deleting it loses nothing, and we keep no
    address its owner did not confirm. Returns how many were deleted."""
    expired = now - datetime.timedelta(seconds=settings.DELIVERY_CONFIRM_MAX_AGE_SECONDS)
    unconfirmed = Subscription.objects.filter(
        status=Subscription.Status.PENDING, confirmed_at__isnull=True, requested_at__lt=expired
    )
    _, deleted = unconfirmed.delete()
    return deleted.get(Subscription._meta.label, 0)


def _rate_limit(*, email: str, ip: str | None) -> None:
    """Count confirmation emails per address and per IP in Redis, so every web process shares the count."""
    if ip and _over_limit("delivery:confirm:ip", ip, settings.DELIVERY_CONFIRM_LIMIT_PER_IP):
        raise RateLimited(TOO_MANY_FROM_NETWORK)
    if _over_limit("delivery:confirm:email", email_inbox(email), settings.DELIVERY_CONFIRM_LIMIT_PER_ADDRESS):
        raise RateLimited(TOO_MANY_FOR_ADDRESS)


def _over_limit(kind: str, who: str, limit: int) -> bool:
    return rate_limit_hit(key=rate_limit_key(kind, who), limit=limit, window_seconds=RATE_WINDOW_SECONDS)


def subscription_for_confirmation(*, token: str) -> Subscription:
    """The subscription a confirmation link is for, without confirming it (the GET of the link)."""
    try:
        subscription_id, email = tokens.confirm_token_read(token)
    except tokens.BadToken:
        raise SubscriptionError(CONFIRM_LINK_INVALID) from None
    subscription = (
        Subscription.objects.select_related("course").filter(id=subscription_id, email=email).first()
    )
    if subscription is None:
        raise SubscriptionError(CONFIRM_LINK_INVALID)
    return subscription


def subscription_confirm(*, token: str, send_first_now: bool | None = None) -> Subscription:
    """Confirm the address from the emailed link; the subscription becomes the learner's (one identity).

    Week 1 goes out at the first slot after now, or within the minute if the learner chose so.
    """
    try:
        subscription_id, email = tokens.confirm_token_read(token)
    except tokens.BadToken:
        raise SubscriptionError(CONFIRM_LINK_INVALID) from None
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update().filter(id=subscription_id, email=email).first()
        )
        if subscription is None:
            raise SubscriptionError(CONFIRM_LINK_INVALID)
        if subscription.status != Subscription.Status.PENDING:
            return subscription  # already confirmed (or ended since): confirming twice changes nothing
        now = timezone.now()
        subscription.user = user_get_or_create_for_email(email=email)
        subscription.status = Subscription.Status.ACTIVE
        subscription.confirmed_at = now
        if send_first_now is not None:
            subscription.send_first_now = send_first_now
        subscription.next_send_at = (
            now if subscription.send_first_now else schedule_next_slot(subscription, after=now)
        )
        subscription.save(update_fields=["user", "status", "confirmed_at", "send_first_now", "next_send_at"])
        enrollment_touch(user=subscription.user, course=subscription.course)
        if subscription.send_first_now:
            _enqueue("dispatch_due_lessons")
    return subscription


def subscription_from_token(
    token: str, *, scope: tokens.Scope = tokens.Scope.MANAGE, withheld_ok: bool = False
) -> Subscription:
    """The subscription a manage, unsubscribe or calendar link points at, if the token was made for that
    `scope` and is of the subscription's current link generation. Its course must not be held or rejected
    (pages stop showing it), unless `withheld_ok`: leaving a course always works."""
    try:
        link = tokens.subscription_token_read(token, scope=scope)
    except tokens.OutdatedToken:
        raise LinkReplaced(LINK_REPLACED) from None
    except tokens.BadToken:
        raise SubscriptionError(SUBSCRIPTION_LINK_INVALID) from None
    subscription = Subscription.objects.select_related("course").filter(id=link.subscription_id).first()
    if subscription is None:
        raise SubscriptionError(SUBSCRIPTION_LINK_INVALID)
    if link.generation != subscription.link_generation:
        raise LinkReplaced(LINK_REPLACED)
    if course_is_withheld(subscription.course) and not withheld_ok:
        raise SubscriptionError(COURSE_WITHDRAWN)
    return subscription


def subscription_links_replace(*, subscription: Subscription) -> Subscription:
    """Retire every manage, unsubscribe and calendar link of the subscription, and email the new manage
    link to its address (only there: whoever holds an old link cannot follow the new one)."""
    with transaction.atomic():
        subscription = _locked(subscription)
        subscription.link_generation += 1
        subscription.save(update_fields=["link_generation"])
        _enqueue("send_links_replaced_email", subscription.id)
    return subscription


def subscription_schedule_change(*, subscription: Subscription, schedule: Schedule) -> Subscription:
    with transaction.atomic():
        subscription = _locked(subscription)
        _set_schedule(subscription, schedule)
        if subscription.status == Subscription.Status.ACTIVE and subscription.catch_up_weeks == 0:
            after = timezone.now()
            if subscription.last_dispatched_at:
                after = max(after, subscription.last_dispatched_at + MIN_GAP_AFTER_CHANGE)
            subscription.next_send_at = schedule_next_slot(subscription, after=after)
        subscription.save(update_fields=["weekday", "send_time", "timezone", "next_send_at"])
    return subscription


def _set_schedule(subscription: Subscription, schedule: Schedule) -> None:
    subscription.weekday = schedule.weekday
    subscription.send_time = schedule.send_time
    subscription.timezone = schedule.timezone


def subscription_pause(*, subscription: Subscription) -> Subscription:
    with transaction.atomic():
        subscription = _locked(subscription)
        if subscription.status == Subscription.Status.ACTIVE:
            subscription.status = Subscription.Status.PAUSED
            subscription.paused_at = timezone.now()
            subscription.next_send_at = None
            subscription.save(update_fields=["status", "paused_at", "next_send_at"])
    return subscription


def subscription_missed_weeks(subscription: Subscription, *, now: datetime.datetime | None = None) -> int:
    """Weeks that would have gone out while paused (what "catch up" sends at once)."""
    if subscription.status != Subscription.Status.PAUSED or subscription.paused_at is None:
        return 0
    remaining = subscription.course.weeks_count - subscription.next_week + 1
    return slots_between(
        start=subscription.paused_at,
        end=now or timezone.now(),
        weekday=subscription.weekday,
        at=subscription.send_time,
        tz=schedule_zone(subscription),
        limit=max(remaining, 0),
    )


def subscription_resume(*, subscription: Subscription, catch_up: bool = False) -> Subscription:
    """Pick up where it stopped, at the next slot. With `catch_up`, the weeks missed while paused go out
    together within the minute: the only way a learner gets more than one week in one slot."""
    with transaction.atomic():
        subscription = _locked(subscription)
        if subscription.status != Subscription.Status.PAUSED:
            return subscription
        now = timezone.now()
        missed = subscription_missed_weeks(subscription, now=now) if catch_up else 0
        subscription.status = Subscription.Status.ACTIVE
        subscription.paused_at = None
        subscription.catch_up_weeks = max(missed - 1, 0)
        subscription.next_send_at = now if missed else schedule_next_slot(subscription, after=now)
        subscription.save(update_fields=["status", "paused_at", "catch_up_weeks", "next_send_at"])
        if missed:
            _enqueue("dispatch_due_lessons")
    return subscription


def subscription_send_next_now(*, subscription: Subscription) -> Subscription:
    """Bring the next week forward to now; the schedule then carries on from the following slot."""
    with transaction.atomic():
        subscription = _locked(subscription)
        if subscription.status == Subscription.Status.FINISHED:
            raise SubscriptionError(COURSE_COMPLETE)
        if subscription.status != Subscription.Status.ACTIVE:
            raise SubscriptionError(NOT_ACTIVE)
        now = timezone.now()
        if subscription.next_send_at and subscription.next_send_at <= now:
            raise SubscriptionError(ALREADY_ON_ITS_WAY)
        subscription.next_send_at = now
        subscription.save(update_fields=["next_send_at"])
        _enqueue("dispatch_due_lessons")
    return subscription


def subscription_unsubscribe(*, subscription: Subscription) -> Subscription:
    """Stop this course's emails. Idempotent: the one-click POST of mail clients may come more than once."""
    with transaction.atomic():
        subscription = _locked(subscription)
        if subscription.status in (Subscription.Status.UNSUBSCRIBED, Subscription.Status.STOPPED):
            return subscription
        subscription.status = Subscription.Status.UNSUBSCRIBED
        subscription.next_send_at = None
        subscription.ended_at = timezone.now()
        subscription.save(update_fields=["status", "next_send_at", "ended_at"])
        Delivery.objects.filter(subscription=subscription, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.CANCELLED, error="Unsubscribed before sending."
        )
    return subscription


def _locked(subscription: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",)).select_related("course").get(id=subscription.id)
    )


def _enqueue(task_name: str, *args: object) -> None:
    """Queue a delivery task once the current transaction commits."""
    enqueue_after_commit(f"delivery.tasks.{task_name}", *args)


# ---------------------------------------------------------------------------------------------------------
# Actions from links in the weekly email: answer a quiz question, mark the week done
# ---------------------------------------------------------------------------------------------------------
EMAIL_LINK_INVALID = (
    "This link is not valid. It may have been cut short: try copying it whole from the email."
)


@dataclass(frozen=True)
class AnswerLink:
    subscription: Subscription
    quiz: Quiz
    question: int
    choice: int

    @property
    def question_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.quiz.questions[self.question]
        return data


@dataclass(frozen=True)
class WeekDoneLink:
    subscription: Subscription
    week: Week


def answer_link_read(*, token: str) -> AnswerLink:
    """What an answer link stands for, checked against the quiz as it is now. Changes nothing."""
    try:
        answer = tokens.answer_token_read(token)
    except tokens.BadToken:
        raise SubscriptionError(EMAIL_LINK_INVALID) from None
    subscription = _learner_subscription(answer.subscription_id)
    quiz = quiz_with_course_and_week(quiz_id=answer.quiz_id)
    if quiz is None or quiz.course_id != subscription.course_id:
        raise SubscriptionError(EMAIL_LINK_INVALID)
    try:
        quiz_answers_check(quiz=quiz, answers={answer.question: answer.choice})
    except ProgressError as error:
        raise SubscriptionError(str(error)) from None
    return AnswerLink(subscription, quiz, answer.question, answer.choice)


def answer_link_record(*, token: str) -> tuple[AnswerLink, QuestionResult]:
    """Record the answer clicked in the email (the latest answer to a question stands)."""
    link = answer_link_read(token=token)
    assert link.subscription.user is not None
    _, result = quiz_answer_record(
        user=link.subscription.user, quiz=link.quiz, question=link.question, choice=link.choice
    )
    return link, result


def answer_link_attempt(link: AnswerLink) -> QuizAttempt | None:
    """The learner's email attempt at the link's quiz, with every answer clicked so far."""
    assert link.subscription.user is not None
    return QuizAttempt.objects.filter(
        user=link.subscription.user, quiz=link.quiz, source=Source.EMAIL
    ).first()


def week_done_link_read(*, token: str) -> WeekDoneLink:
    try:
        done = tokens.week_done_token_read(token)
    except tokens.BadToken:
        raise SubscriptionError(EMAIL_LINK_INVALID) from None
    subscription = _learner_subscription(done.subscription_id)
    week = week_with_course(week_id=done.week_id)
    if week is None or week.course_id != subscription.course_id:
        raise SubscriptionError(EMAIL_LINK_INVALID)
    return WeekDoneLink(subscription, week)


def week_done_link_record(*, token: str) -> tuple[WeekDoneLink, int]:
    """Mark every lesson of the emailed week done; returns how many were newly marked."""
    link = week_done_link_read(token=token)
    assert link.subscription.user is not None
    return link, week_mark_done(user=link.subscription.user, week=link.week, source=Source.EMAIL)


def _learner_subscription(subscription_id: int) -> Subscription:
    subscription = Subscription.objects.select_related("user", "course").filter(id=subscription_id).first()
    if subscription is None or subscription.user is None:
        raise SubscriptionError(EMAIL_LINK_INVALID)
    if course_is_withheld(subscription.course):
        raise SubscriptionError(COURSE_WITHDRAWN)
    return subscription
