"""Fixtures for delivery tests: the fake SendGrid wired into settings, a webhook signer, a small course."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone

from courses.models import Course
from delivery.email.dispatch import DispatchResult, dispatch_due
from delivery.models import Subscription
from tests.factories import SubscriptionFactory, written_course
from tests.fakes.sendgrid_server import FakeSendGrid, WebhookSigner

FROM_EMAIL = "Semester <semester@semester.test>"


@pytest.fixture
def sendgrid(settings: Any) -> Iterator[FakeSendGrid]:
    """The fake SendGrid on loopback, with settings pointing the real SDK at it."""
    with FakeSendGrid() as fake:
        settings.SENDGRID_API_KEY = "SG.test"
        settings.SENDGRID_API_HOST = fake.host_url
        settings.SENDGRID_RETRY_BACKOFF_SECONDS = 0.01
        settings.SENDGRID_TIMEOUT_SECONDS = 5.0
        settings.DEFAULT_FROM_EMAIL = FROM_EMAIL
        yield fake


@pytest.fixture
def signer(settings: Any) -> WebhookSigner:
    signer = WebhookSigner()
    settings.SENDGRID_WEBHOOK_PUBLIC_KEY = signer.public_key_b64
    return signer


@pytest.fixture
def course() -> Course:
    return written_course(weeks=4, lessons_per_week=2)


@pytest.fixture
def subscribe(course: Course) -> Callable[..., Subscription]:
    """An active subscription to `course`, due at `due` (default: now)."""

    def make(*, due: datetime.datetime | None = None, **fields: Any) -> Subscription:
        fields.setdefault("course", course)
        return SubscriptionFactory(next_send_at=due or timezone.now(), **fields)

    return make


@pytest.fixture
def dispatch(django_capture_on_commit_callbacks: Any) -> Callable[..., DispatchResult]:
    """Run the dispatcher at `now` and the send tasks it queues (eager Celery), as the beat entry would."""

    def run(now: datetime.datetime | None = None) -> DispatchResult:
        with django_capture_on_commit_callbacks(execute=True):
            return dispatch_due(now=now or timezone.now())

    return run
