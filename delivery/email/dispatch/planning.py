"""Planning: which subscriptions are due, their ledger rows, and the send tasks queued for them."""

from __future__ import annotations

import datetime
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

from django.db import transaction
from django.db.models import F

from courses.selectors import course_is_emailable, courses_for_delivery
from delivery.email import sendgrid
from delivery.email.health import sending_paused
from delivery.email.schedule import schedule_next_slot
from delivery.models import Delivery, Subscription
from school.queue import enqueue_after_commit

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


def dispatch_due(*, now: datetime.datetime) -> DispatchResult:
    """Plan every due subscription here, course by course, and queue one send task per course-week chunk
    of up to 1,000 as each course commits (what `send_due_lessons` runs)."""
    return due_deliveries_plan(now=now, enqueue=True)


def dispatch_fan_out(*, now: datetime.datetime) -> int:
    """Queue one planning task per course with due subscriptions (what the beat runs every minute), so
    planning 100,000 subscriptions spreads over every worker instead of one thread. Returns the courses."""
    if _paused(now):
        return 0
    course_ids = [str(course_id) for course_id in _due_course_ids(now)]
    for course_id in course_ids:
        enqueue_after_commit("delivery.tasks.plan_course_deliveries", course_id, now.isoformat())
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
    jobs = [key for key, rows in batches.items() for _ in range(math.ceil(rows / BATCH_SIZE))]
    for course_id, week in jobs:
        enqueue_after_commit("delivery.tasks.send_week_batch", course_id, week)
    return len(jobs)
