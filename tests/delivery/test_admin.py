"""Delivery in the admin: the subscription and delivery pages, and who may open them."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.urls import reverse

from delivery.models import Delivery, EmailEvent
from tests.factories import SubscriptionFactory, UserFactory, moderator

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client: Client) -> Client:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_subscription_and_its_deliveries_open_on_their_own_pages(superuser_client: Client) -> None:
    subscription = SubscriptionFactory()
    delivery = Delivery.objects.create(subscription=subscription, course=subscription.course, week_number=1)

    for url in [
        reverse("admin:delivery_subscription_change", args=[subscription.pk]),
        reverse("admin:delivery_delivery_change", args=[delivery.pk]),
    ]:
        assert superuser_client.get(url).status_code == 200, url


def test_delivery_health_is_for_those_who_may_see_the_deliveries(superuser_client: Client) -> None:
    health = reverse("admin:delivery_health")
    moderator_client = Client()
    moderator_client.force_login(moderator())

    assert moderator_client.get(health).status_code == 403  # its links lead to pages a moderator may not open
    assert superuser_client.get(health).status_code == 200


def test_pausing_and_resuming_from_the_list_say_how_many_changed(superuser_client: Client) -> None:
    active, paused = SubscriptionFactory(), SubscriptionFactory(status="paused")
    changelist = reverse("admin:delivery_subscription_changelist")
    selected = [str(active.pk), str(paused.pk)]

    page = superuser_client.post(changelist, {"action": "pause", "_selected_action": selected}, follow=True)
    assert "1 of 2 subscription(s) paused (only active ones can be)." in page.content.decode()
    page = superuser_client.post(changelist, {"action": "resume", "_selected_action": selected}, follow=True)
    assert "2 of 2 subscription(s) resumed (only paused ones can be)." in page.content.decode()


def test_the_subscription_list_shows_the_schedule_in_one_column(superuser_client: Client) -> None:
    SubscriptionFactory(weekday=2, send_time=datetime.time(7, 30), timezone="Europe/Berlin")

    page = superuser_client.get(reverse("admin:delivery_subscription_changelist")).content.decode()

    assert "Wednesday 07:30 Europe/Berlin" in page


def test_deliveries_and_email_events_are_records_nobody_adds_or_edits_by_hand(
    superuser_client: Client,
) -> None:
    subscription = SubscriptionFactory()
    delivery = Delivery.objects.create(subscription=subscription, course=subscription.course, week_number=1)
    event = EmailEvent.objects.create(
        delivery=delivery,
        kind="delivered",
        email=subscription.email,
        sg_event_id="ev-1",
        occurred_at=delivery.created_at,
    )

    for name, record in [("delivery", delivery), ("emailevent", event)]:
        assert superuser_client.get(reverse(f"admin:delivery_{name}_add")).status_code == 403, name
        changelist = superuser_client.get(reverse(f"admin:delivery_{name}_changelist")).content.decode()
        assert reverse(f"admin:delivery_{name}_add") not in changelist, name
        change = reverse(f"admin:delivery_{name}_change", args=[record.pk])
        assert 'name="_save"' not in superuser_client.get(change).content.decode(), name
    superuser_client.post(reverse("admin:delivery_delivery_change", args=[delivery.pk]), {"week_number": "2"})
    delivery.refresh_from_db()
    assert delivery.week_number == 1
