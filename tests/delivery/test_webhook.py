"""POST /webhooks/sendgrid: SendGrid's signed Event Webhook."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from delivery.email.dispatch import DispatchResult
from delivery.email.sendgrid import WEBHOOK_FORGED, WEBHOOK_NOT_CONFIGURED, WEBHOOK_STALE, WEBHOOK_UNSIGNED
from delivery.email.subscriptions import Schedule, subscription_request
from delivery.models import Delivery, EmailEvent, Enrollment, Subscription, Suppression
from tests.factories import written_course
from tests.fakes.sendgrid_server import FakeSendGrid, WebhookSigner, event, webhook_body

pytestmark = pytest.mark.django_db

URL = "/webhooks/sendgrid"


def post(client: Client, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post(URL, body, content_type="application/json", headers=headers or {})


@pytest.fixture
def sent(
    sendgrid: FakeSendGrid, subscribe: Callable[..., Subscription], dispatch: Callable[..., DispatchResult]
) -> Delivery:
    """Week 1 sent to one subscriber, enrolled as confirmation does."""
    subscription = subscribe()
    Enrollment.objects.create(user=subscription.user, course=subscription.course)
    dispatch()
    return Delivery.objects.select_related("subscription").get()


def delivery_event(kind: str, delivery: Delivery, **fields: Any) -> dict[str, Any]:
    return event(kind, email=delivery.subscription.email, delivery_id=str(delivery.id), **fields)


def test_a_signed_post_is_recorded(client: Client, signer: WebhookSigner, sent: Delivery) -> None:
    body = webhook_body([delivery_event("delivered", sent), delivery_event("open", sent)])

    response = post(client, body, signer.headers(body))

    assert response.status_code == 200
    assert response.json() == {"received": 2, "recorded": 2, "duplicates": 0}
    assert sorted(EmailEvent.objects.values_list("kind", flat=True)) == ["delivered", "open"]


def test_a_post_signed_with_another_key_is_refused(
    client: Client, signer: WebhookSigner, sent: Delivery
) -> None:
    body = webhook_body([delivery_event("spamreport", sent)])

    response = post(client, body, WebhookSigner().headers(body))

    assert response.status_code == 403
    assert response.json() == {"error": WEBHOOK_FORGED}
    assert not EmailEvent.objects.exists()
    assert not Suppression.objects.exists()


def test_a_tampered_body_is_refused(client: Client, signer: WebhookSigner, sent: Delivery) -> None:
    body = webhook_body([delivery_event("delivered", sent)])
    headers = signer.headers(body)

    response = post(client, body.replace(b"delivered", b"bounce"), headers)

    assert response.status_code == 403
    assert not EmailEvent.objects.exists()


def test_a_post_without_signature_headers_is_refused(client: Client, signer: WebhookSigner) -> None:
    body = webhook_body([event("delivered", email="ada@example.com")])
    headers = signer.headers(body)

    assert post(client, body).json() == {"error": WEBHOOK_UNSIGNED}
    assert (
        post(
            client, body, {WebhookSigner.SIGNATURE_HEADER: headers[WebhookSigner.SIGNATURE_HEADER]}
        ).status_code
        == 403
    )
    assert (
        post(client, body, {**headers, WebhookSigner.SIGNATURE_HEADER: "bm90IGEgc2lnbmF0dXJl"}).status_code
        == 403
    )


def test_a_stale_or_future_timestamp_is_refused_even_when_correctly_signed(
    client: Client, signer: WebhookSigner
) -> None:
    body = webhook_body([event("delivered", email="ada@example.com")])
    old = str(int(time.time()) - 11 * 60)
    future = str(int(time.time()) + 11 * 60)

    assert post(client, body, signer.headers(body, timestamp=old)).json() == {"error": WEBHOOK_STALE}
    assert post(client, body, signer.headers(body, timestamp=future)).status_code == 403
    assert post(client, body, signer.headers(body, timestamp=str(int(time.time()) - 60))).status_code == 200


def test_every_post_is_refused_until_the_verification_key_is_configured(
    client: Client, settings: Any
) -> None:
    settings.SENDGRID_WEBHOOK_PUBLIC_KEY = ""
    body = webhook_body([event("delivered", email="ada@example.com")])

    response = post(client, body, WebhookSigner().headers(body))

    assert (response.status_code, response.json()) == (403, {"error": WEBHOOK_NOT_CONFIGURED})


def test_a_replayed_post_changes_nothing_the_second_time(
    client: Client, signer: WebhookSigner, sent: Delivery
) -> None:
    events = [delivery_event("open", sent, timestamp=int(time.time()) - 30)]
    body = webhook_body(events)
    post(client, body, signer.headers(body))
    Delivery.objects.filter(id=sent.id).update(opened_at=None)  # so a second recording would show

    again = post(client, body, signer.headers(body))  # signed again, as SendGrid's retries are

    assert again.json() == {"received": 1, "recorded": 0, "duplicates": 1}
    assert EmailEvent.objects.count() == 1
    assert Delivery.objects.get(id=sent.id).opened_at is None


def test_a_body_that_is_not_a_json_list_is_a_400_never_a_500(client: Client, signer: WebhookSigner) -> None:
    for body in (b"{not json", b'{"event": "open"}', b'"text"', b""):
        response = post(client, body, signer.headers(body))
        assert response.status_code == 400, body


def test_malformed_events_are_skipped_and_the_rest_recorded(client: Client, signer: WebhookSigner) -> None:
    good = event("delivered", email="Ada@Example.com", delivery_id="not-a-number")
    body = webhook_body(
        [good, {"event": "open"}, "nonsense", {"sg_event_id": 5, "event": "x", "email": "a@b.c"}]
    )

    response = post(client, body, signer.headers(body))

    assert response.json() == {"received": 4, "recorded": 1, "duplicates": 0}
    recorded = EmailEvent.objects.get()
    assert (recorded.email, recorded.delivery_id) == ("ada@example.com", None)


def test_only_post_is_allowed(client: Client) -> None:
    assert client.get(URL).status_code == 405


def test_delivery_opens_and_clicks_are_engagement_on_the_ledger_and_the_learners_progress(
    client: Client, signer: WebhookSigner, sent: Delivery
) -> None:
    enrollment = Enrollment.objects.get()
    Enrollment.objects.filter(id=enrollment.id).update(
        last_activity_at=timezone.now() - datetime.timedelta(days=3)
    )
    at = int(time.time()) - 120
    events = [delivery_event(kind, sent, timestamp=at) for kind in ("delivered", "open", "click")]
    body = webhook_body(events)

    post(client, body, signer.headers(body))

    sent.refresh_from_db()
    moment = datetime.datetime.fromtimestamp(at, tz=datetime.UTC)
    assert (sent.delivered_at, sent.opened_at, sent.clicked_at) == (moment, moment, moment)
    assert Enrollment.objects.get().last_activity_at > timezone.now() - datetime.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("kind", "reason", "stamp"),
    [
        ("bounce", Suppression.Reason.BOUNCE, "bounced_at"),
        ("spamreport", Suppression.Reason.SPAM_REPORT, "complained_at"),
        ("unsubscribe", Suppression.Reason.UNSUBSCRIBE, None),
    ],
)
def test_a_hard_bounce_complaint_or_unsubscribe_stops_the_address_for_every_course(
    client: Client, signer: WebhookSigner, sent: Delivery, subscribe: Callable[..., Subscription],
    dispatch: Callable[..., DispatchResult], sendgrid: FakeSendGrid, kind: str, reason: str, stamp: str | None,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    email = sent.subscription.email
    other = subscribe(course=written_course(weeks=4, lessons_per_week=1), user=sent.subscription.user)
    body = webhook_body([delivery_event(kind, sent)])

    post(client, body, signer.headers(body))

    assert Suppression.objects.get(email=email).reason == reason
    statuses = set(Subscription.objects.filter(email=email).values_list("status", flat=True))
    assert statuses == {Subscription.Status.STOPPED}
    if stamp:
        sent.refresh_from_db()
        assert getattr(sent, stamp) is not None
    Subscription.objects.filter(id=other.id).update(status=Subscription.Status.ACTIVE)  # even if reactivated
    before = len(sendgrid.messages)
    dispatch(timezone.now() + datetime.timedelta(days=8))
    assert len(sendgrid.messages) == before  # nothing more to a suppressed address
    subscription_request(course=other.course, email=email, schedule=Schedule(0, datetime.time(8), "UTC"))
    assert mail.outbox == []  # not even a confirmation


def test_a_blocked_message_is_a_soft_bounce_and_suppresses_nothing(
    client: Client, signer: WebhookSigner, sent: Delivery
) -> None:
    body = webhook_body([delivery_event("blocked", sent)])

    post(client, body, signer.headers(body))

    assert not Suppression.objects.exists()
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE
