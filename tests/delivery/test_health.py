"""Delivery health: the complaint rate, its warning and automatic pause, and the admin pages."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from courses.models import Course
from delivery.email.dispatch import DispatchResult
from delivery.email.health import (
    COMPLAINT_SUMMARY,
    complaint_rate,
    delivery_counts_by_course,
    delivery_counts_by_week,
    unsubscribes_recent,
)
from delivery.email.subscriptions import subscription_unsubscribe
from delivery.models import Delivery, EmailEvent, Subscription
from tests.factories import UserFactory
from tests.fakes.sendgrid_server import FakeSendGrid

pytestmark = pytest.mark.django_db


def history(course: Course, *, sent: int, complaints: int, days_ago: int = 1) -> None:
    """`sent` emails of week 1 to as many learners, `complaints` of them reported as spam, days ago."""
    when = timezone.now() - datetime.timedelta(days=days_ago)
    users = User.objects.bulk_create(User(email=f"h{days_ago}-{n}@example.com") for n in range(sent))
    subscriptions = Subscription.objects.bulk_create(
        Subscription(user=u, email=u.email, course=course, status="active") for u in users
    )
    rows = Delivery.objects.bulk_create(
        Delivery(subscription=s, course=course, week_number=1, status="sent", sent_at=when)
        for s in subscriptions
    )
    EmailEvent.objects.bulk_create(
        EmailEvent(sg_event_id=f"spam-{row.id}", kind="spamreport", email=row.subscription.email, delivery=row,
                   occurred_at=when)
        for row in rows[:complaints]
    )  # fmt: skip


def test_the_complaint_rate_counts_the_last_seven_days_only(course: Course) -> None:
    history(course, sent=1000, complaints=2)
    history(course, sent=50, complaints=5, days_ago=10)
    EmailEvent.objects.create(
        sg_event_id="old",
        kind="spamreport",
        email="y@example.com",
        occurred_at=timezone.now() - datetime.timedelta(days=9),
    )

    rate = complaint_rate()

    assert (rate.complaints, rate.sent) == (2, 1000)
    assert rate.rate == 0.002
    assert rate.warning
    assert not rate.paused
    assert "0.20%" in rate.message


def test_sending_pauses_by_itself_at_three_complaints_in_a_thousand(
    course: Course,
    sendgrid: FakeSendGrid,
    subscribe: Callable[..., Subscription],
    dispatch: Callable[..., DispatchResult],
) -> None:
    history(course, sent=1000, complaints=3)
    waiting = subscribe()

    result = dispatch()

    assert complaint_rate().paused
    assert result.paused
    assert sendgrid.messages == []
    waiting.refresh_from_db()
    assert waiting.next_week == 1  # nothing consumed: the week goes out once sending resumes


def test_a_small_volume_shows_the_rate_without_pausing(course: Course, settings: Any) -> None:
    history(course, sent=10, complaints=1)

    rate = complaint_rate()

    assert rate.rate == 0.1
    assert rate.warning
    assert not rate.paused


def test_the_health_page_states_the_rate_and_the_thresholds_as_configured(
    admin_client: Client, course: Course, settings: Any
) -> None:
    settings.DELIVERY_COMPLAINT_WARN_RATE = 0.002
    settings.DELIVERY_COMPLAINT_PAUSE_RATE = 0.005
    settings.DELIVERY_COMPLAINT_MIN_VOLUME = 500
    history(course, sent=400, complaints=1)

    page = admin_client.get("/admin/delivery/delivery/health/").content.decode()

    assert (
        COMPLAINT_SUMMARY.format(complaints=1, sent=400, rate=0.0025, warn=0.002, pause=0.005, volume=500)
        in page
    )


def test_counts_per_course_week_distinguish_sent_failed_and_bounced(course: Course) -> None:
    user = UserFactory()
    subscription = Subscription.objects.create(user=user, email=user.email, course=course, status="active")
    now = timezone.now()
    Delivery.objects.bulk_create(
        [
            Delivery(
                subscription=subscription,
                course=course,
                week_number=1,
                status="sent",
                sent_at=now,
                bounced_at=now,
            ),
            Delivery(
                subscription=subscription, course=course, week_number=2, status="failed", error="400 rejected"
            ),
            Delivery(subscription=subscription, course=course, week_number=3, status="pending"),
        ]
    )

    weeks = {row["week_number"]: row for row in delivery_counts_by_week(course_id=course.id)}

    assert (weeks[1]["sent"], weeks[1]["bounced"], weeks[2]["failed"], weeks[3]["waiting"]) == (1, 1, 1, 1)


def test_the_admin_shows_delivery_health_and_the_complaint_warning(
    admin_client: Client, course: Course
) -> None:
    history(course, sent=1000, complaints=2)

    page = admin_client.get("/admin/delivery/delivery/health/").content.decode()
    week_page = admin_client.get(f"/admin/delivery/delivery/health/?course={course.id}").content.decode()
    changelist = admin_client.get("/admin/delivery/subscription/").content.decode()

    assert "Spam complaints over the last 7 days are at 0.20%" in page
    assert course.title in page
    assert "<td>1</td><td>1000</td>" in week_page  # week 1: 1000 sent
    assert "Spam complaints over the last 7 days" in changelist
    assert admin_client.get("/admin/delivery/delivery/").status_code == 200
    assert admin_client.get("/admin/delivery/emailevent/").status_code == 200
    assert admin_client.get("/admin/delivery/suppression/").status_code == 200


def test_health_counts_unsubscribes_per_course_per_week_and_over_seven_days(
    admin_client: Client, course: Course
) -> None:
    history(course, sent=5, complaints=0)  # five learners were sent week 1…
    Subscription.objects.filter(course=course).update(next_week=2)  # …and wait for week 2
    left = list(Subscription.objects.filter(course=course)[:3])
    for subscription in left:
        subscription_unsubscribe(subscription=subscription)
    Subscription.objects.filter(pk=left[0].pk).update(next_week=3)  # this one left after week 2
    Subscription.objects.filter(pk=left[1].pk).update(ended_at=timezone.now() - datetime.timedelta(days=8))

    courses = delivery_counts_by_course()
    weeks = {row["week_number"]: row for row in delivery_counts_by_week(course_id=course.id)}
    page = admin_client.get("/admin/delivery/delivery/health/").content.decode()
    week_page = admin_client.get(f"/admin/delivery/delivery/health/?course={course.id}").content.decode()

    assert [row["unsubscribed"] for row in courses] == [3]
    assert weeks[1]["unsubscribed"] == 2  # waiting for week 2 when they left
    assert unsubscribes_recent() == 2  # one of the three left more than 7 days ago
    assert "2 learners unsubscribed in the same 7 days." in page
    assert "<th>Unsubscribed</th>" in page
    assert "<td>0</td><td>3</td></tr>" in page  # waiting, unsubscribed
    assert "<th>Unsubscribed after it</th>" in week_page
