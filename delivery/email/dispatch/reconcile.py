"""Reconciling what dead workers and lost answers leave behind: rows stuck in "sending", lost send tasks."""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from delivery.email.dispatch.planning import Batches, batches_enqueue
from delivery.models import Delivery, EmailEvent


@dataclass
class ReconcileResult:
    confirmed: int = 0
    released: int = 0
    failed: int = 0
    batches: Batches = field(default_factory=Counter)


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
