"""Delivery health for operators: spam-complaint rate, and sent / failed / bounced per course and week."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from delivery.models import Delivery, EmailEvent, Subscription

COMPLAINT_WINDOW = datetime.timedelta(days=7)
COMPLAINT_WARNING = (
    "Spam complaints over the last 7 days are at {rate:.2%}: above {warn:.1%}, mailbox providers start to "
    "filter bulk mail. Sending pauses by itself at {pause:.1%}."
)
COMPLAINT_PAUSED = (
    "Weekly sending is PAUSED: spam complaints over the last 7 days are at {rate:.2%}, over {pause:.1%}. "
    "It resumes by itself once the rate falls back below (as complaints age out of the window), or raise "
    "DELIVERY_COMPLAINT_PAUSE_RATE after fixing the cause."
)

COMPLAINT_SUMMARY = (
    "{complaints} spam complaint(s) for {sent} email(s) sent: {rate:.2%}. A warning shows from {warn:.1%}; "
    "sending pauses at {pause:.1%} once at least {volume} emails went out in these 7 days."
)


@dataclass(frozen=True)
class ComplaintRate:
    complaints: int
    sent: int

    @property
    def rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def paused(self) -> bool:
        return (
            self.sent >= settings.DELIVERY_COMPLAINT_MIN_VOLUME
            and self.rate >= settings.DELIVERY_COMPLAINT_PAUSE_RATE
        )

    @property
    def warning(self) -> bool:
        return self.complaints > 0 and self.rate >= settings.DELIVERY_COMPLAINT_WARN_RATE

    @property
    def summary(self) -> str:
        return COMPLAINT_SUMMARY.format(
            complaints=self.complaints,
            sent=self.sent,
            rate=self.rate,
            warn=settings.DELIVERY_COMPLAINT_WARN_RATE,
            pause=settings.DELIVERY_COMPLAINT_PAUSE_RATE,
            volume=settings.DELIVERY_COMPLAINT_MIN_VOLUME,
        )

    @property
    def message(self) -> str:
        if not (self.paused or self.warning):
            return ""
        template = COMPLAINT_PAUSED if self.paused else COMPLAINT_WARNING
        return template.format(
            rate=self.rate,
            warn=settings.DELIVERY_COMPLAINT_WARN_RATE,
            pause=settings.DELIVERY_COMPLAINT_PAUSE_RATE,
        )


def complaint_rate(*, now: datetime.datetime | None = None) -> ComplaintRate:
    since = (now or timezone.now()) - COMPLAINT_WINDOW
    return ComplaintRate(
        complaints=EmailEvent.objects.filter(kind="spamreport", occurred_at__gte=since).count(),
        sent=Delivery.objects.filter(sent_at__gte=since).count(),
    )


def sending_paused(*, now: datetime.datetime | None = None) -> bool:
    return complaint_rate(now=now).paused


def _counts() -> dict[str, Any]:
    return {
        "sent": Count("id", filter=Q(status=Delivery.Status.SENT)),
        "failed": Count("id", filter=Q(status=Delivery.Status.FAILED)),
        "bounced": Count("id", filter=Q(bounced_at__isnull=False)),
        "complained": Count("id", filter=Q(complained_at__isnull=False)),
        "opened": Count("id", filter=Q(opened_at__isnull=False)),
        "waiting": Count("id", filter=Q(status__in=(Delivery.Status.PENDING, Delivery.Status.SENDING))),
    }


def unsubscribes_recent(*, now: datetime.datetime | None = None) -> int:
    """Learners who unsubscribed in the last 7 days (the complaint rate's window), from any course."""
    since = (now or timezone.now()) - COMPLAINT_WINDOW
    return Subscription.objects.filter(status=Subscription.Status.UNSUBSCRIBED, ended_at__gte=since).count()


def delivery_counts_by_course(*, limit: int = 200) -> list[dict[str, Any]]:
    """Per course: emails sent, failed, bounced, … and learners who unsubscribed, busiest courses first."""
    rows = (
        Delivery.objects.values("course_id", "course__title", "course__topic")
        .annotate(**_counts())
        .order_by("-sent", "course__title")  # type: ignore[misc]  # "sent" is the annotation above
    )[:limit]
    unsubscribed = dict(
        Subscription.objects.filter(
            status=Subscription.Status.UNSUBSCRIBED, course_id__in=[row["course_id"] for row in rows]
        )
        .values_list("course_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [{**row, "unsubscribed": unsubscribed.get(row["course_id"], 0)} for row in rows]


def delivery_counts_by_week(*, course_id: UUID | str) -> list[dict[str, Any]]:
    """One course's counts per week, with the learners who unsubscribed after that week's email (the last one
    they were sent: the week before the one they were waiting for)."""
    rows = Delivery.objects.filter(course_id=course_id).values("week_number").annotate(**_counts())
    unsubscribed = dict(
        Subscription.objects.filter(course_id=course_id, status=Subscription.Status.UNSUBSCRIBED)
        .values_list("next_week")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        {**row, "unsubscribed": unsubscribed.get(row["week_number"] + 1, 0)}
        for row in rows.order_by("week_number")
    ]
