"""Settling what dead workers leave: rows stuck in "sending", and pending rows whose task was lost."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from delivery.email.dispatch import UNKNOWN_OUTCOME, due_deliveries_plan, stuck_deliveries_reconcile
from delivery.email.events import events_record
from delivery.models import Delivery, Subscription
from tests.fakes.sendgrid_server import FakeSendGrid, WebhookSigner, event

pytestmark = pytest.mark.django_db


@pytest.fixture
def stuck(subscribe: Callable[..., Subscription]) -> list[Delivery]:
    """Two week-1 rows a worker claimed twenty minutes ago, then died."""
    for _ in range(2):
        subscribe()
    due_deliveries_plan(now=timezone.now())
    Delivery.objects.update(
        status=Delivery.Status.SENDING, claimed_at=timezone.now() - datetime.timedelta(minutes=20)
    )
    return list(Delivery.objects.select_related("subscription").order_by("id"))


def reconcile(capture: Any, *, minutes: int = 0) -> Any:
    later = timezone.now() + datetime.timedelta(minutes=minutes)
    with time_machine.travel(later, tick=False), capture(execute=True):
        return stuck_deliveries_reconcile(now=timezone.now())


def test_a_stuck_row_that_sendgrid_reported_is_marked_sent_not_sent_again(
    sendgrid: FakeSendGrid,
    signer: WebhookSigner,
    stuck: list[Delivery],
    django_capture_on_commit_callbacks: Any,
) -> None:
    reported, silent = stuck
    events_record(
        events=[event("processed", email=reported.subscription.email, delivery_id=str(reported.id))]
    )

    result = reconcile(django_capture_on_commit_callbacks, minutes=3)

    assert result.released == 1
    assert [m.to for m in sendgrid.messages] == [silent.subscription.email]
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_an_event_that_arrives_while_the_worker_is_stuck_settles_the_row_at_once(
    signer: WebhookSigner, stuck: list[Delivery]
) -> None:
    events_record(
        events=[event("delivered", email=stuck[0].subscription.email, delivery_id=str(stuck[0].id))]
    )

    stuck[0].refresh_from_db()
    assert stuck[0].status == Delivery.Status.SENT
    assert stuck[0].delivered_at is not None


def test_rows_stuck_for_less_than_the_limit_are_left_alone(
    sendgrid: FakeSendGrid, signer: WebhookSigner, stuck: list[Delivery], settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    settings.DELIVERY_STUCK_AFTER_SECONDS = 3600

    result = reconcile(django_capture_on_commit_callbacks)

    assert (result.confirmed, result.released) == (0, 0)
    assert sendgrid.messages == []


def test_without_a_webhook_a_stuck_row_fails_visibly_instead_of_risking_a_duplicate(
    sendgrid: FakeSendGrid, stuck: list[Delivery], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SENDGRID_WEBHOOK_PUBLIC_KEY = ""

    result = reconcile(django_capture_on_commit_callbacks, minutes=3)

    assert result.failed == 2
    assert set(Delivery.objects.values_list("status", "error")) == {(Delivery.Status.FAILED, UNKNOWN_OUTCOME)}
    assert sendgrid.messages == []


def test_an_event_arriving_after_the_row_was_released_stops_its_resend(
    sendgrid: FakeSendGrid,
    signer: WebhookSigner,
    stuck: list[Delivery],
    django_capture_on_commit_callbacks: Any,
) -> None:
    stuck_deliveries_reconcile(now=timezone.now())  # released to pending; its batch not run yet
    late = stuck[0]
    events_record(events=[event("processed", email=late.subscription.email, delivery_id=str(late.id))])

    reconcile(django_capture_on_commit_callbacks, minutes=3)

    assert [m.to for m in sendgrid.messages] == [stuck[1].subscription.email]


def test_pending_rows_whose_task_was_lost_are_queued_again(
    sendgrid: FakeSendGrid, subscribe: Callable[..., Subscription], django_capture_on_commit_callbacks: Any
) -> None:
    subscribe()
    due_deliveries_plan(now=timezone.now())  # planned, but its task never ran

    early = reconcile(django_capture_on_commit_callbacks)
    assert early.batches == {}  # a just-planned row's task is presumably still in the queue
    late = reconcile(django_capture_on_commit_callbacks, minutes=16)

    assert sum(late.batches.values()) == 1
    assert len(sendgrid.messages) == 1
