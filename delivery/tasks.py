"""Celery tasks of weekly delivery. Each takes ids, calls a service, and is safe to run twice.

`send_*` tasks go to the "mail" queue (threads waiting on SendGrid); the dispatcher and the reconciler run
on "default" from the beat schedule in settings.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import asdict
from typing import Any
from uuid import UUID

from celery import Task, shared_task
from django.utils import timezone

from delivery.email import dispatch, emails, inbound, subscriptions
from delivery.models import Subscription

logger = logging.getLogger(__name__)

EMAIL_NOT_SENT = "Our email to this address could not be sent after several tries: {error}"


@shared_task
def dispatch_due_lessons(now: str | None = None) -> dict[str, int]:
    """Every minute: queue the planning of each course whose subscribers have a week due."""
    moment = datetime.datetime.fromisoformat(now) if now else timezone.now()
    return {"courses": dispatch.dispatch_fan_out(now=moment)}


@shared_task
def plan_course_deliveries(course_id: str, now: str) -> dict[str, Any]:
    """Write one course's due weeks into the ledger and queue their batches. Safe to run twice: due
    subscriptions are claimed with SKIP LOCKED and move on to their next week in the same transaction."""
    result = dispatch.course_due_plan(course_id=UUID(course_id), now=datetime.datetime.fromisoformat(now))
    return {**asdict(result), "batches": len(result.batches)}


class BatchDeferred(Exception):
    """SendGrid stayed unavailable past the in-request retries; the rows are pending again."""


# Every task retries the same way: Celery's own options, a failure it may retry raised out of the task, and on
# the last try a failure recorded where a person sees it instead. Backoff doubles from the first delay
# (seconds) up to an hour, with jitter so tasks that failed together come back apart.
SEND_RETRIES: dict[str, Any] = {"retry_backoff": 60, "retry_backoff_max": 3600, "retry_jitter": True}


@shared_task(bind=True, autoretry_for=(BatchDeferred,), max_retries=6, **SEND_RETRIES)
def send_week_batch(self: Task, course_id: str, week_number: int) -> dict[str, int]:
    """Send up to 1,000 pending emails of one course-week. When SendGrid stays unavailable past the
    in-request retries, the rows go back to pending and this task tries again later (about an hour in all)."""
    result = dispatch.week_batch_send(course_id=course_id, week_number=week_number)
    if result.deferred and self.request.retries < (self.max_retries or 0):
        raise BatchDeferred(f"{result.deferred} recipients deferred")
    return asdict(result)


@shared_task
def reconcile_stuck_deliveries() -> dict[str, int]:
    """Every five minutes: settle deliveries a dead worker left in "sending"; re-queue lost batches."""
    result = dispatch.stuck_deliveries_reconcile(now=timezone.now())
    if result.confirmed or result.released or result.failed:
        logger.warning("Reconciled stuck deliveries: %s", result)
    return {**asdict(result), "batches": len(result.batches)}


@shared_task
def purge_unconfirmed_subscriptions() -> dict[str, int]:
    """Every hour: delete the subscriptions whose address was never confirmed before its link expired."""
    return {"deleted": subscriptions.subscriptions_unconfirmed_purge(now=timezone.now())}


@shared_task(bind=True, autoretry_for=(Exception,), max_retries=5, **{**SEND_RETRIES, "retry_backoff": 30})
def send_confirmation_email(self: Task, subscription_id: int) -> None:
    subscription = _pending(subscription_id)
    if subscription is not None:
        _send_or_retry(self, emails.send_confirmation, subscription)


@shared_task(bind=True, autoretry_for=(Exception,), max_retries=5, **{**SEND_RETRIES, "retry_backoff": 30})
def send_already_subscribed_email(self: Task, subscription_id: int) -> None:
    subscription = Subscription.objects.select_related("course").filter(id=subscription_id).first()
    if subscription is not None:
        _send_or_retry(self, emails.send_already_subscribed, subscription)


@shared_task(bind=True, autoretry_for=(Exception,), max_retries=5, **{**SEND_RETRIES, "retry_backoff": 30})
def send_links_replaced_email(self: Task, subscription_id: int) -> None:
    subscription = Subscription.objects.select_related("course").filter(id=subscription_id).first()
    if subscription is not None:
        _send_or_retry(self, emails.send_links_replaced, subscription)


def _pending(subscription_id: int) -> Subscription | None:
    return (
        Subscription.objects.select_related("course")
        .filter(id=subscription_id, status=Subscription.Status.PENDING)
        .first()
    )


def _send_or_retry(task: Task, send: Any, subscription: Subscription) -> None:
    """Send; a failure is raised for Celery to retry (the backend's own errors, SMTP's or SendGrid's, are not
    one class), or recorded on the subscription on the last try."""
    try:
        send(subscription)
    except Exception as error:
        if task.request.retries >= (task.max_retries or 0):
            _record_unsent(subscription, error)
            return
        logger.warning("Could not send %s to subscription %s: %s", task.name, subscription.id, error)
        raise


def _record_unsent(subscription: Subscription, error: Exception) -> None:
    """Out of retries: say so on the subscription, where the admin's list of subscriptions shows it."""
    reason = EMAIL_NOT_SENT.format(error=error)[:200]
    logger.error("Gave up emailing subscription %s: %s", subscription.id, error)
    Subscription.objects.filter(id=subscription.id).update(stop_reason=reason)


@shared_task(bind=True, autoretry_for=(Exception,), max_retries=5, **{**SEND_RETRIES, "retry_backoff": 30})
def send_tutor_reply(self: Task, inbound_id: int) -> bool:
    """Mail the tutor's answer to a reply (runs after the answer is written: see `inbound_receive`). A failed
    send gives its claim back, so the retry sends it; a sent one is never sent again."""
    return inbound.inbound_reply_send(inbound_id=inbound_id)


@shared_task(bind=True, autoretry_for=(Exception,), max_retries=5, **{**SEND_RETRIES, "retry_backoff": 30})
def send_tutor_refusal(self: Task, inbound_id: int) -> bool:
    """Tell a learner why their emailed question gets no answer (see `inbound_receive`); retried like the
    answer's email, and never sent twice."""
    return inbound.inbound_refusal_send(inbound_id=inbound_id)
