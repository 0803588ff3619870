"""The weekly dispatcher: who is due, the delivery ledger, sending in batches, and what dead workers leave.

Exactly once per subscriber and week rests on three things:
- planning writes the ledger row (unique per subscription and week) in the same transaction that moves the
  subscription to its next week, over rows locked with SKIP LOCKED, so two dispatchers share the work;
- sending claims ledger rows (pending → sending, committed before the HTTP call) with SKIP LOCKED, so a task
  run twice or two workers on one course-week never hold the same row;
- a row left in "sending" (the worker died, or SendGrid's answer was lost) is re-sent only once SendGrid's
  events, which carry its id, have had time to say it went out (see `stuck_deliveries_reconcile`).
"""

from __future__ import annotations

import datetime
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from courses.models import Week
from courses.selectors import course_is_emailable, courses_for_delivery
from delivery import emails, sendgrid
from delivery.health import sending_paused
from delivery.models import Delivery, EmailEvent, Subscription, Suppression
from delivery.schedule import schedule_next_slot

logger = logging.getLogger(__name__)

PLAN_CHUNK = 2000
BATCH_SIZE = sendgrid.MAX_PERSONALIZATIONS
Batches = Counter[tuple[str, int]]  # (course id, week number) → rows to send


@dataclass
class DispatchResult:
    subscriptions: int = 0
    planned: int = 0
    held: int = 0  # their course may not be emailed right now; the week waits for the next slot
    finished: int = 0
    paused: bool = False  # the complaint rate stopped all sending
    batches: Batches = field(default_factory=Counter)


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    unknown: int = 0


@dataclass
class ReconcileResult:
    confirmed: int = 0
    released: int = 0
    failed: int = 0
    batches: Batches = field(default_factory=Counter)


# ---------------------------------------------------------------------------------------------------------
# Planning: due subscriptions → ledger rows
# ---------------------------------------------------------------------------------------------------------
def dispatch_due(*, now: datetime.datetime) -> DispatchResult:
    """Plan every due subscription here, course by course, and queue one send task per course-week chunk
    of up to 1,000 as each course commits (what `send_due_lessons` runs)."""
    return due_deliveries_plan(now=now, enqueue=True)


def dispatch_fan_out(*, now: datetime.datetime) -> int:
    """Queue one planning task per course with due subscriptions (what the beat runs every minute), so
    planning 100,000 subscriptions spreads over every worker instead of one thread. Returns the courses."""
    if _paused(now):
        return 0
    from delivery.tasks import plan_course_deliveries  # the tasks module imports this one

    course_ids = [str(course_id) for course_id in _due_course_ids(now)]

    def enqueue() -> None:
        for course_id in course_ids:
            plan_course_deliveries.delay(course_id, now.isoformat())

    transaction.on_commit(enqueue)
    return len(course_ids)


def due_deliveries_plan(*, now: datetime.datetime, enqueue: bool = False) -> DispatchResult:
    """Write the ledger rows of every subscription due at `now`, course by course."""
    result = DispatchResult()
    if _paused(now):
        result.paused = True
        return result
    slots: dict[tuple[int, datetime.time, str], datetime.datetime] = {}
    for course_id in _due_course_ids(now):
        course_due_plan(course_id=course_id, now=now, enqueue=enqueue, result=result, slots=slots)
    return result


def course_due_plan(
    *,
    course_id: UUID,
    now: datetime.datetime,
    enqueue: bool = True,
    result: DispatchResult | None = None,
    slots: dict[tuple[int, datetime.time, str], datetime.datetime] | None = None,
) -> DispatchResult:
    """Write the ledger rows of one course's due subscriptions, a chunk per transaction. With `enqueue`,
    each chunk's batches are queued as it commits, so they are sent while other courses are planned."""
    result = result if result is not None else DispatchResult()
    slots = slots if slots is not None else {}
    while True:
        with transaction.atomic():
            batches: Batches = Counter()
            planned = _plan_chunk(course_id=course_id, now=now, result=result, batches=batches, slots=slots)
            if enqueue:
                batches_enqueue(batches)
        result.batches.update(batches)
        if planned < PLAN_CHUNK:
            return result


def _paused(now: datetime.datetime) -> bool:
    if sending_paused(now=now):
        logger.error("Weekly sending is paused: the spam-complaint rate is over the limit")
        return True
    return False


def _due_course_ids(now: datetime.datetime) -> list[UUID]:
    # The partial index on next_send_at (active only) makes this read what is due, not what exists.
    due = Subscription.objects.filter(status=Subscription.Status.ACTIVE, next_send_at__lte=now)
    return list(due.values_list("course_id", flat=True).distinct().order_by())


class _Due(NamedTuple):
    """What planning reads of a due subscription: a row, not a model instance (there may be 100,000)."""

    id: int
    weekday: int
    send_time: datetime.time
    timezone: str
    next_week: int
    catch_up_weeks: int


class _Change(NamedTuple):
    """A subscription's new state after planning; due subscribers mostly share one, so one UPDATE per
    distinct change serves them all."""

    advance: int  # weeks planned now: next_week moves on by this much
    finished: bool
    next_send_at: datetime.datetime | None
    held: bool = False  # the course may not be emailed now: the same week waits for the next slot

    def fields(self, now: datetime.datetime) -> dict[str, Any]:
        if self.held:
            return {"next_send_at": self.next_send_at}
        return {
            "next_week": F("next_week") + self.advance,
            "catch_up_weeks": 0,
            "last_dispatched_at": now,
            "status": Subscription.Status.FINISHED if self.finished else Subscription.Status.ACTIVE,
            "next_send_at": self.next_send_at,
            "ended_at": now if self.finished else None,
        }


def _plan_chunk(
    *,
    course_id: UUID,
    now: datetime.datetime,
    result: DispatchResult,
    batches: Batches,
    slots: dict[tuple[int, datetime.time, str], datetime.datetime],
) -> int:
    # Ordered by week, so a course-week lands in one chunk (one batch) unless it is bigger than a chunk.
    due = [
        _Due(*row)
        for row in Subscription.objects.select_for_update(skip_locked=True)
        .filter(course_id=course_id, status=Subscription.Status.ACTIVE, next_send_at__lte=now)
        .order_by("next_week", "id")
        .values_list("id", "weekday", "send_time", "timezone", "next_week", "catch_up_weeks")[:PLAN_CHUNK]
    ]
    if not due:
        return 0
    course = courses_for_delivery(course_ids={course_id})[course_id]
    weeks_count = course.weeks_count if course_is_emailable(course) else 0
    rows: list[Delivery] = []
    changes: defaultdict[_Change, list[int]] = defaultdict(list)
    for subscription in due:
        key = (subscription.weekday, subscription.send_time, subscription.timezone)
        if key not in slots:  # subscribers due together mostly share their next slot too
            slots[key] = schedule_next_slot(subscription, after=now)
        weeks, change = _plan_one(subscription, weeks_count, slots[key])
        rows.extend(
            Delivery(subscription_id=subscription.id, course_id=course_id, week_number=week) for week in weeks
        )
        batches.update((str(course_id), week) for week in weeks)
        changes[change].append(subscription.id)
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    for change, ids in changes.items():
        Subscription.objects.filter(id__in=ids).update(**change.fields(now))
    result.subscriptions += len(due)
    result.planned += len(rows)
    result.held += 0 if weeks_count else len(due)
    result.finished += sum(len(ids) for change, ids in changes.items() if change.finished)
    return len(due)


def _plan_one(subscription: _Due, weeks_count: int, next_slot: datetime.datetime) -> tuple[range, _Change]:
    """The weeks due now (one, or more after an explicit catch-up) and the subscription's new state.
    `weeks_count` 0 means the course may not be emailed now: nothing is planned, the week waits."""
    if not weeks_count:
        return range(0), _Change(0, False, next_slot, held=True)
    last = min(subscription.next_week + subscription.catch_up_weeks, weeks_count)
    weeks = range(subscription.next_week, last + 1)
    finished = max(subscription.next_week, last + 1) > weeks_count
    return weeks, _Change(len(weeks), finished, None if finished else next_slot)


def batches_enqueue(batches: Mapping[tuple[str, int], int]) -> int:
    """Queue send tasks once the ledger rows are committed: ceil(rows / 1,000) per course-week."""
    from delivery.tasks import send_week_batch  # the tasks module imports this one

    jobs = [key for key, rows in batches.items() for _ in range(math.ceil(rows / BATCH_SIZE))]

    def enqueue() -> None:
        for course_id, week in jobs:
            send_week_batch.delay(course_id, week)

    transaction.on_commit(enqueue)
    return len(jobs)


# ---------------------------------------------------------------------------------------------------------
# Sending: one course-week chunk
# ---------------------------------------------------------------------------------------------------------
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
                "id", "course_id", "attempts", "error", "subscription_id", "subscription__email",
                "subscription__status", "suppressed",
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
        subject=email.subject, text=email.text, html=email.html, category=emails.CATEGORY_WEEK
    )


def _recipient(email: emails.WeekEmail, row: _Claimed) -> sendgrid.Recipient:
    personal = emails.week_email_personal(email, subscription_id=row.subscription_id)
    return sendgrid.Recipient(
        key=row.id,
        email=row.email,
        substitutions=personal.substitutions,
        headers=personal.headers,
        custom_args={"delivery_id": str(row.id)},
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


# ---------------------------------------------------------------------------------------------------------
# Reconciling what dead workers and lost answers leave behind
# ---------------------------------------------------------------------------------------------------------
UNKNOWN_OUTCOME = (
    "The worker stopped while sending and no event webhook is configured to say whether SendGrid accepted "
    "it; not re-sent, to avoid a duplicate."
)


def stuck_deliveries_reconcile(*, now: datetime.datetime) -> ReconcileResult:
    """Settle rows left in "sending", then queue batches for pending rows whose task was lost.

    1. A row "sending" for longer than DELIVERY_STUCK_AFTER_SECONDS lost its worker or its answer.
    2. If SendGrid reported any event for it (events carry the ledger id), it went out: mark it sent.
    3. Otherwise, when events could have told us (webhook configured, or no SendGrid at all), it did not:
       back to pending. Without a webhook nothing can tell, so it fails visibly instead of risking a duplicate.
    4. Queue a batch for every course-week with pending rows left as long (their task was lost).
    """
    result = ReconcileResult()
    cutoff = now - datetime.timedelta(seconds=settings.DELIVERY_STUCK_AFTER_SECONDS)
    with transaction.atomic():
        stuck = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.SENDING, claimed_at__lt=cutoff)
            .values_list("id", flat=True)
        )
        seen = set(EmailEvent.objects.filter(delivery_id__in=stuck).values_list("delivery_id", flat=True))
        result.confirmed = Delivery.objects.filter(id__in=seen).update(
            status=Delivery.Status.SENT, sent_at=now
        )
        unseen = Delivery.objects.filter(id__in=[i for i in stuck if i not in seen])
        if settings.SENDGRID_API_KEY and not settings.SENDGRID_WEBHOOK_PUBLIC_KEY:
            result.failed = unseen.update(status=Delivery.Status.FAILED, error=UNKNOWN_OUTCOME)
        else:
            result.released = unseen.update(status=Delivery.Status.PENDING)
    result.batches = orphaned_batches(cutoff=cutoff)
    batches_enqueue(result.batches)
    return result


def orphaned_batches(*, cutoff: datetime.datetime) -> Batches:
    """Course-weeks with pending rows untouched since `cutoff`: their task was lost (a worker died holding it)."""
    waiting = Q(claimed_at__lt=cutoff) | Q(claimed_at__isnull=True, created_at__lt=cutoff)
    counts = (
        Delivery.objects.filter(waiting, status=Delivery.Status.PENDING)
        .values_list("course_id", "week_number")
        .annotate(rows=Count("id"))
        .order_by()
    )
    return Counter({(str(course_id), week): rows for course_id, week, rows in counts})
