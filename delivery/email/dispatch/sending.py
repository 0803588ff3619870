"""Sending: claim one course-week chunk of ledger rows, send it in one request, record each outcome."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from courses.models import Week
from courses.selectors import course_is_emailable, courses_for_delivery
from delivery.email import emails, sendgrid
from delivery.email.dispatch.planning import BATCH_SIZE
from delivery.models import Delivery, Subscription, Suppression


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    unknown: int = 0


def week_batch_send(*, course_id: str, week_number: int) -> BatchResult:
    """Send one chunk of a course-week.

    1. Claim up to 1,000 pending rows (SKIP LOCKED) and commit them as "sending".
    2. Cancel rows whose subscription has ended or whose address is suppressed; fail rows tried too often.
    3. Render the week once; each recipient gets their own links as substitutions and the ledger id as
       custom_args.
    4. Send, then record the outcomes in bulk: sent; failed (refused for good); back to pending (SendGrid
       was unavailable: retried later); or left in "sending" when the answer was lost (see reconcile).
    """
    result = BatchResult()
    claimed = _claim(course_id=course_id, week_number=week_number, now=timezone.now())
    sendable = _screen(claimed, result)
    if not sendable:
        return result
    course = courses_for_delivery(course_ids={claimed[0].course_id})[claimed[0].course_id]
    if not course_is_emailable(course):
        _cancel([row.id for row in sendable], "The course was withdrawn before this week was sent.", result)
        return result
    try:
        email = emails.week_email(course=course, week_number=week_number)
    except Week.DoesNotExist:
        _fail({row.id: f"Week {week_number} does not exist in this course." for row in sendable}, result)
        return result
    recipients = [_recipient(email, row) for row in sendable]
    report = sendgrid.send_batch(message=_message(email), recipients=recipients)
    _record(report, result, now=timezone.now())
    return result


class _Claimed(NamedTuple):
    """A claimed ledger row with what sending needs of its subscription (plain rows: up to 1,000)."""

    id: int
    course_id: UUID
    attempts: int  # before this claim
    error: str
    subscription_id: int
    link_generation: int
    email: str
    subscription_status: str
    suppressed: bool


def _claim(*, course_id: str, week_number: int, now: datetime.datetime) -> list[_Claimed]:
    suppressed = Exists(Suppression.objects.filter(email=OuterRef("subscription__email")))
    with transaction.atomic():
        rows = [
            _Claimed(*row)
            for row in Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(course_id=course_id, week_number=week_number, status=Delivery.Status.PENDING)
            .annotate(suppressed=suppressed)
            .order_by("id")
            .values_list(
                "id", "course_id", "attempts", "error", "subscription_id", "subscription__link_generation",
                "subscription__email", "subscription__status", "suppressed",
            )[:BATCH_SIZE]
        ]  # fmt: skip
        Delivery.objects.filter(id__in=[row.id for row in rows]).update(
            status=Delivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return rows


def _screen(rows: list[_Claimed], result: BatchResult) -> list[_Claimed]:
    """Rows still to send. Nothing goes to an unconfirmed, ended or suppressed address."""
    ended = (Subscription.Status.PENDING, Subscription.Status.UNSUBSCRIBED, Subscription.Status.STOPPED)
    cancel = {row.id for row in rows if row.subscription_status in ended or row.suppressed}
    tired = {
        row.id: f"Gave up after {row.attempts} attempts. Last error: {row.error or 'none'}"
        for row in rows
        if row.id not in cancel and row.attempts >= settings.DELIVERY_MAX_ATTEMPTS
    }
    _cancel(cancel, "Unsubscribed, stopped or suppressed before sending.", result)
    _fail(tired, result)
    return [row for row in rows if row.id not in cancel and row.id not in tired]


def _message(email: emails.WeekEmail) -> sendgrid.Message:
    return sendgrid.Message(
        subject=email.subject,
        text=email.text,
        html=email.html,
        category=emails.CATEGORY_WEEK,
        reply_to=email.reply_to,
    )


def _recipient(email: emails.WeekEmail, row: _Claimed) -> sendgrid.Recipient:
    personal = emails.week_email_personal(
        email, subscription_id=row.subscription_id, link_generation=row.link_generation
    )
    return sendgrid.Recipient(
        key=row.id,
        email=row.email,
        substitutions=personal.substitutions,
        headers=personal.headers,
        custom_args={"delivery_id": str(row.id)},
        reply_to=personal.reply_to,
    )


def _record(report: sendgrid.SendReport, result: BatchResult, *, now: datetime.datetime) -> None:
    for message_id, ids in _group(report.accepted).items():
        Delivery.objects.filter(id__in=ids).update(
            status=Delivery.Status.SENT, sent_at=now, message_id=message_id, error=""
        )
    result.sent += len(report.accepted)
    _fail(report.rejected, result)
    for reason, ids in _group(report.deferred).items():
        Delivery.objects.filter(id__in=ids).update(status=Delivery.Status.PENDING, error=reason)
    result.deferred += len(report.deferred)
    for reason, ids in _group(report.unknown).items():
        Delivery.objects.filter(id__in=ids).update(error=reason)  # stays "sending" until reconciled
    result.unknown += len(report.unknown)


def _cancel(ids: Collection[int], reason: str, result: BatchResult) -> None:
    if ids:
        Delivery.objects.filter(id__in=list(ids)).update(status=Delivery.Status.CANCELLED, error=reason)
    result.cancelled += len(ids)


def _fail(reasons: Mapping[int, str], result: BatchResult) -> None:
    for reason, ids in _group(reasons).items():
        Delivery.objects.filter(id__in=ids).update(status=Delivery.Status.FAILED, error=reason)
    result.failed += len(reasons)


def _group(values: Mapping[int, str]) -> dict[str, list[int]]:
    groups: defaultdict[str, list[int]] = defaultdict(list)
    for key, value in values.items():
        groups[value].append(key)
    return groups
