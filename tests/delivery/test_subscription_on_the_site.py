"""Email subscriptions seen from the website: the course page, "My learning" and the subscribe form."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from courses.models import Course
from delivery.email.forms import SubscribeForm
from delivery.email.schedule import timezone_match
from delivery.email.tokens import manage_token
from delivery.models import Subscription
from tests.factories import SubscriptionFactory, UserFactory, written_course

pytestmark = pytest.mark.django_db


@pytest.fixture
def course() -> Course:
    return written_course(weeks=3, lessons_per_week=1)


def test_a_signed_in_learners_subscribe_form_has_their_address_filled_in(
    client: Client, course: Course
) -> None:
    client.force_login(UserFactory(email="ada@example.com"))
    html = client.get(course.get_absolute_url()).content.decode()
    assert 'id="subscribe_email" value="ada@example.com"' in html


def test_the_course_page_shows_a_learners_subscription_with_its_manage_link_instead_of_the_form(
    client: Client, course: Course
) -> None:
    learner = UserFactory(email="ada@example.com")
    client.force_login(learner)
    client.get(course.get_absolute_url())  # a page kept before subscribing must not be shown after
    subscription = SubscriptionFactory(user=learner, course=course, next_week=2)

    html = client.get(course.get_absolute_url()).content.decode()

    assert "You get this course by email" in html
    assert "Active, to ada@example.com. Next: week 2." in html
    assert (
        reverse(
            "delivery:manage",
            args=[manage_token(subscription_id=subscription.id, generation=subscription.link_generation)],
        )
        in html
    )
    assert 'name="send_time"' not in html


def test_a_subscription_waiting_for_confirmation_asks_for_the_link_and_offers_no_manage_link(
    client: Client, course: Course
) -> None:
    learner = UserFactory(email="ada@example.com")
    SubscriptionFactory(user=None, email=learner.email, course=course, status="pending", confirmed_at=None)
    client.force_login(learner)
    html = client.get(course.get_absolute_url()).content.decode()
    assert "open it to confirm" in html
    assert "/subscriptions/" not in html


def test_an_ended_subscription_offers_the_form_again(client: Client, course: Course) -> None:
    learner = UserFactory()
    SubscriptionFactory(user=learner, course=course, status="unsubscribed")
    client.force_login(learner)
    assert 'name="send_time"' in client.get(course.get_absolute_url()).content.decode()


def test_my_learning_lists_email_subscriptions_with_their_schedule_and_manage_link(client: Client) -> None:
    learner = UserFactory(email="ada@example.com")
    course = written_course(weeks=3, lessons_per_week=1, title="The history of jazz")
    subscription = SubscriptionFactory(user=learner, course=course, weekday=2, timezone="Europe/Berlin")
    client.force_login(learner)

    html = client.get(reverse("delivery:my_learning")).content.decode()

    assert "Courses you get by email" in html
    assert "The history of jazz" in html
    assert "Wednesdays at 08:00 (Europe/Berlin)" in html
    assert (
        reverse(
            "delivery:manage",
            args=[manage_token(subscription_id=subscription.id, generation=subscription.link_generation)],
        )
        in html
    )
    assert "You have not started a course yet" not in html


def test_another_persons_subscription_is_not_listed(client: Client) -> None:
    SubscriptionFactory(course=written_course(weeks=1, lessons_per_week=1, title="Knots"))
    client.force_login(UserFactory())
    assert "Knots" not in client.get(reverse("delivery:my_learning")).content.decode()


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("Berlin", "Europe/Berlin"),
        ("  berlin ", "Europe/Berlin"),
        ("new york", "America/New_York"),
        ("europe/london", "Europe/London"),
        ("UTC", "UTC"),
        ("Atlantis", None),
    ],
)
def test_a_typed_city_or_name_in_any_case_is_matched_to_its_zone(typed: str, zone: str | None) -> None:
    assert timezone_match(typed) == zone


def test_the_subscribe_form_accepts_berlin_and_stores_europe_berlin() -> None:
    data: dict[str, Any] = {
        "email": "a@example.com",
        "weekday": "0",
        "send_time": "08:00",
        "timezone": "Berlin",
    }
    form = SubscribeForm(data)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["timezone"] == "Europe/Berlin"


def test_the_timezone_field_offers_a_searchable_list_of_zone_names(client: Client, course: Course) -> None:
    html = client.get(course.get_absolute_url()).content.decode()
    assert 'list="timezone-names"' in html
    assert '<datalist id="timezone-names">' in html
    assert '<option value="Europe/Berlin">' in html
    assert 'value="UTC"' in html  # the default without JavaScript
    assert not Subscription.objects.exists()
