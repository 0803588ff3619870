from __future__ import annotations

from typing import Any

import pytest

from delivery.models import Subscription
from delivery.tasks import EMAIL_NOT_SENT, send_confirmation_email
from tests.factories import SubscriptionFactory, written_course
from tests.fakes.sendgrid_server import FakeSendGrid

pytestmark = pytest.mark.django_db


def _pending() -> Subscription:
    return SubscriptionFactory(
        course=written_course(weeks=4, lessons_per_week=1), status="pending", confirmed_at=None
    )


def test_a_confirmation_email_is_retried_until_sendgrid_takes_it(
    sendgrid: FakeSendGrid, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "delivery.email.sendgrid.EmailBackend"
    subscription = _pending()
    sendgrid.fail_next(401, times=2)

    send_confirmation_email.apply(args=[subscription.id])

    assert [message.to for message in sendgrid.messages] == [subscription.email]
    subscription.refresh_from_db()
    assert subscription.stop_reason == ""


def test_a_confirmation_email_that_never_goes_out_is_shown_on_the_subscription(
    sendgrid: FakeSendGrid, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "delivery.email.sendgrid.EmailBackend"
    subscription = _pending()
    sendgrid.fail_next(401, times=20)

    send_confirmation_email.apply(args=[subscription.id])

    assert sendgrid.messages == []
    subscription.refresh_from_db()
    assert subscription.stop_reason.startswith(EMAIL_NOT_SENT.split("{")[0])
    assert "401" in subscription.stop_reason
    assert subscription.status == Subscription.Status.PENDING
