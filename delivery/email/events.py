"""What SendGrid's Event Webhook tells us, recorded once per event (SendGrid repeats them).

- Any event about a message proves SendGrid accepted it: its ledger row (id in custom_args) is sent.
- delivered / open / click are the learner's engagement: stamped on the ledger row; opens and clicks also
  count as activity on the learner's enrollment ("My learning").
- A hard bounce, a spam report or an unsubscribe at SendGrid stops every subscription of the address and
  suppresses it for all courses.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import email_normalise
from delivery.models import Delivery, EmailEvent, Enrollment, Subscription, Suppression

ENGAGEMENT_FIELDS = {"delivered": "delivered_at", "open": "opened_at", "click": "clicked_at"}
ACTIVITY_KINDS = frozenset({"open", "click"})
# SendGrid drops mail to addresses on its own suppression lists; we mirror those.
SUPPRESSED_DROP_REASONS = ("Bounced Address", "Spam Reporting Address", "Unsubscribed Address", "Invalid")
DETAIL_FIELDS = ("type", "reason", "status", "response", "url", "bounce_classification", "sg_message_id")
STOP_REASONS = {
    Suppression.Reason.BOUNCE: "The address bounced.",
    Suppression.Reason.SPAM_REPORT: "The address reported our email as spam.",
    Suppression.Reason.UNSUBSCRIBE: "The address unsubscribed through SendGrid.",
    Suppression.Reason.DROPPED: "SendGrid refuses to mail the address.",
}


@dataclass(frozen=True)
class Event:
    sg_event_id: str
    kind: str
    email: str
    delivery_id: int | None
    occurred_at: datetime.datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class EventsResult:
    received: int = 0
    recorded: int = 0
    duplicates: int = 0
    ignored: int = 0
    suppressed: list[str] = field(default_factory=list)


def events_record(*, events: list[Any]) -> EventsResult:
    """Record a webhook post's events; the ones already seen (same sg_event_id) change nothing."""
    parsed = {event.sg_event_id: event for event in map(event_parse, events) if event is not None}
    result = EventsResult(received=len(events), ignored=len(events) - len(parsed))
    with transaction.atomic():
        seen = set(EmailEvent.objects.filter(sg_event_id__in=parsed).values_list("sg_event_id", flat=True))
        new = [event for event in parsed.values() if event.sg_event_id not in seen]
        known = set(
            Delivery.objects.filter(id__in={e.delivery_id for e in new if e.delivery_id}).values_list(
                "id", flat=True
            )
        )
        EmailEvent.objects.bulk_create(
            [_row(event, known) for event in new], ignore_conflicts=True, batch_size=1000
        )
        delivered = [event for event in new if event.delivery_id in known]
        _confirm_sent(delivered)
        _stamp(delivered)
        result.suppressed = _suppress([event for event in new if _suppression_reason(event)])
    result.recorded, result.duplicates = len(new), len(parsed) - len(new)
    return result


def event_parse(item: Any) -> Event | None:
    """One event of the posted list, or None when it lacks what we need (SendGrid adds fields over time)."""
    if not isinstance(item, dict):
        return None
    sg_event_id, kind, email = item.get("sg_event_id"), item.get("event"), item.get("email")
    if not (isinstance(sg_event_id, str) and isinstance(kind, str) and isinstance(email, str)):
        return None
    if not sg_event_id or len(sg_event_id) > 100 or len(kind) > 32:
        return None
    return Event(
        sg_event_id=sg_event_id,
        kind=kind,
        email=email_normalise(email)[:254],
        delivery_id=_int(item.get("delivery_id")),
        occurred_at=_time(item.get("timestamp")),
        detail={name: str(item[name])[:500] for name in DETAIL_FIELDS if name in item},
    )


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def _time(value: Any) -> datetime.datetime:
    try:
        return datetime.datetime.fromtimestamp(int(value), tz=datetime.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


def _row(event: Event, known: set[int]) -> EmailEvent:
    return EmailEvent(
        sg_event_id=event.sg_event_id,
        kind=event.kind,
        email=event.email,
        delivery_id=event.delivery_id if event.delivery_id in known else None,
        occurred_at=event.occurred_at,
        detail=event.detail,
    )


def _confirm_sent(events: list[Event]) -> None:
    """Any event proves SendGrid accepted the message: settle rows a dead worker left behind, and rows put
    back to pending before a late event arrived (so they are not sent twice)."""
    ids = {event.delivery_id for event in events if event.delivery_id}
    waiting = (Delivery.Status.SENDING, Delivery.Status.PENDING)
    Delivery.objects.filter(id__in=ids, status__in=waiting).update(
        status=Delivery.Status.SENT, sent_at=timezone.now(), error=""
    )
    by_message: defaultdict[str, set[int]] = defaultdict(set)
    for event in events:
        if event.delivery_id:
            by_message[event.detail.get("sg_message_id", "").split(".", 1)[0][:100]].add(event.delivery_id)
    by_message.pop("", None)
    # One SendGrid message id per request of up to 1,000 recipients: few updates per post.
    for message_id, message_ids in by_message.items():
        Delivery.objects.filter(id__in=message_ids, message_id="").update(message_id=message_id)


def _stamp(events: list[Event]) -> None:
    """First delivery, open, click, bounce and complaint times on the ledger rows; activity on enrollments."""
    stamps: defaultdict[tuple[str, datetime.datetime], set[int]] = defaultdict(set)
    for event in events:
        name = ENGAGEMENT_FIELDS.get(event.kind) or _problem_field(event)
        if name and event.delivery_id:
            stamps[(name, event.occurred_at)].add(event.delivery_id)
    for (name, when), ids in stamps.items():
        Delivery.objects.filter(id__in=ids, **{f"{name}__isnull": True}).update(**{name: when})
    active = {event.delivery_id for event in events if event.kind in ACTIVITY_KINDS and event.delivery_id}
    if active:
        learner = Subscription.objects.filter(
            user_id=OuterRef("user_id"), course_id=OuterRef("course_id"), deliveries__id__in=active
        )
        Enrollment.objects.filter(Exists(learner)).update(last_activity_at=timezone.now())


def _problem_field(event: Event) -> str | None:
    if event.kind == "spamreport":
        return "complained_at"
    if event.kind == "bounce" or event.kind == "dropped":
        return "bounced_at"
    return None


def _suppression_reason(event: Event) -> Suppression.Reason | None:
    if event.kind == "bounce":
        # "blocked" is SendGrid's soft, policy bounce: the address exists, so it is not suppressed.
        return Suppression.Reason.BOUNCE if event.detail.get("type", "bounce") == "bounce" else None
    if event.kind == "spamreport":
        return Suppression.Reason.SPAM_REPORT
    if event.kind in ("unsubscribe", "group_unsubscribe"):
        return Suppression.Reason.UNSUBSCRIBE
    if event.kind == "dropped" and event.detail.get("reason", "").startswith(SUPPRESSED_DROP_REASONS):
        return Suppression.Reason.DROPPED
    return None


def _suppress(events: list[Event]) -> list[str]:
    reasons = {event.email: _suppression_reason(event) or Suppression.Reason.BOUNCE for event in events}
    Suppression.objects.bulk_create(
        [Suppression(email=email, reason=reason) for email, reason in reasons.items()], ignore_conflicts=True
    )
    by_reason: defaultdict[Suppression.Reason, list[str]] = defaultdict(list)
    for email, reason in reasons.items():
        by_reason[reason].append(email)
    for reason, addresses in by_reason.items():  # a bounce storm costs a few queries, not a few per address
        addresses_stop(emails=addresses, reason=STOP_REASONS.get(reason, reason))
    return sorted(reasons)


def addresses_stop(*, emails: list[str], reason: str) -> int:
    """Stop every live or pending subscription of these addresses and cancel their unsent weeks."""
    live = (Subscription.Status.PENDING, Subscription.Status.ACTIVE, Subscription.Status.PAUSED)
    subscriptions = Subscription.objects.filter(email__in=emails, status__in=live)
    ids = list(subscriptions.values_list("id", flat=True))
    stopped = Subscription.objects.filter(id__in=ids).update(
        status=Subscription.Status.STOPPED, stop_reason=reason, next_send_at=None, ended_at=timezone.now()
    )
    Delivery.objects.filter(subscription_id__in=ids, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED, error=reason
    )
    return stopped
