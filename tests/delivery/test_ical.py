"""The .ics feed of a subscriber's upcoming weeks."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
import time_machine
from django.test import Client

from courses.models import Week
from delivery.email import links
from delivery.email.ical import ical_escape, ical_fold
from delivery.models import Subscription

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def calendar_path(subscription: Subscription) -> str:
    return links.calendar_url(
        subscription_id=subscription.id, generation=subscription.link_generation
    ).removeprefix("https://semester.test")


def test_text_is_escaped_as_rfc_5545_requires() -> None:
    assert ical_escape("a\\b; c, d\ne") == "a\\\\b\\; c\\, d\\ne"


def test_long_lines_fold_at_75_octets_without_splitting_a_character() -> None:
    line = "SUMMARY:" + "é" * 100

    folded = ical_fold(line)

    parts = folded.split("\r\n ")
    assert "".join(parts) == line
    assert all(len(part.encode()) <= 75 for part in parts)
    assert len(parts[0].encode()) <= 75
    assert all(len(p.encode()) <= 74 for p in parts[1:])


def test_the_feed_lists_each_coming_week_at_its_local_send_time_across_dst(
    client: Client, subscribe: Callable[..., Subscription]
) -> None:
    # Sunday 08:00 in New York, week 2 of 4 next, on the Sunday before spring-forward.
    subscription = subscribe(
        weekday=6, timezone="America/New_York", next_week=2, due=datetime.datetime(2025, 3, 2, 13, tzinfo=UTC)
    )
    Week.objects.filter(course=subscription.course, number=3).update(title="Commas, semicolons; and more")

    with time_machine.travel(datetime.datetime(2025, 3, 1, tzinfo=UTC)):
        response = client.get(calendar_path(subscription))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.content.decode()
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith("END:VCALENDAR\r\n")
    assert "\n" not in body.replace("\r\n", "")
    unfolded = body.replace("\r\n ", "")
    starts = [line for line in unfolded.split("\r\n") if line.startswith("DTSTART:")]
    assert starts == ["DTSTART:20250302T130000Z", "DTSTART:20250309T120000Z", "DTSTART:20250316T120000Z"]
    assert f"UID:subscription-{subscription.id}-week-3@semester.test" in unfolded
    assert "week 3\\, Commas\\, semicolons\\; and more" in unfolded


def test_a_paused_subscription_has_an_empty_calendar(
    client: Client, subscribe: Callable[..., Subscription]
) -> None:
    subscription = subscribe(status="paused")

    body = client.get(calendar_path(subscription)).content.decode()

    assert "BEGIN:VEVENT" not in body
    assert "END:VCALENDAR" in body


def test_a_forged_calendar_link_is_refused(client: Client, subscribe: Callable[..., Subscription]) -> None:
    subscription = subscribe()

    assert client.get(f"/subscriptions/{subscription.id}:nope/calendar.ics").status_code == 404
