"""The manage page of a subscription: schedule, pause and resume (with or without catch-up), send now, and
replacing its links (the manage link apart from the read-only calendar address)."""

from __future__ import annotations

import datetime
import html
import re
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from courses.models import Course
from delivery.email import links, subscriptions, tokens
from delivery.email.dispatch import DispatchResult
from delivery.email.schedule import TIMEZONE_UNKNOWN, schedule_next_slot
from delivery.email.subscriptions import (
    COURSE_WITHDRAWN,
    LINK_REPLACED,
    NOT_ACTIVE,
    SUBSCRIPTION_LINK_INVALID,
)
from delivery.learning.selectors import learner_subscriptions
from delivery.models import Subscription
from tests.fakes.sendgrid_server import FakeSendGrid

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


@pytest.fixture
def subscription(subscribe: Callable[..., Subscription]) -> Subscription:
    """Active, at week 3, Monday 08:00 in Berlin; next week due on Monday 6 January 2025."""
    return subscribe(next_week=3, timezone="Europe/Berlin", due=datetime.datetime(2025, 1, 6, 7, tzinfo=UTC))


def manage_path(subscription: Subscription, action: str = "") -> str:
    path = links.manage_url(
        subscription_id=subscription.id, generation=subscription.link_generation
    ).removeprefix("https://semester.test")
    return f"{path}{action}/" if action else path


def weeks_sent(sendgrid: FakeSendGrid) -> list[int]:
    return [int((m.subject or "").split("Week ")[1].split(":")[0]) for m in sendgrid.messages]


def test_the_manage_page_shows_when_the_next_week_arrives_in_local_time(
    client: Client, subscription: Subscription
) -> None:
    with time_machine.travel(datetime.datetime(2025, 1, 2, tzinfo=UTC)):
        page = client.get(manage_path(subscription))

    assert page.status_code == 200
    text = page.content.decode()
    assert "Week 3 of 4 arrives on Monday 6 January 2025 at 08:00 (Europe/Berlin)" in text
    assert (
        links.calendar_url(subscription_id=subscription.id, generation=subscription.link_generation) in text
    )
    assert (
        links.unsubscribe_url(
            subscription_id=subscription.id, generation=subscription.link_generation
        ).removeprefix("https://semester.test")
        in text
    )


def test_every_description_a_schedule_field_points_to_is_on_the_page(
    client: Client, subscription: Subscription
) -> None:
    """Django adds aria-describedby="…_helptext" to a field with help text; the page must show that text."""
    text = client.get(manage_path(subscription)).content.decode()

    described_by = re.findall(r'aria-describedby="([^"]+)"', text)
    assert "id_timezone_helptext" in described_by
    assert all(f'id="{target}"' in text for ids in described_by for target in ids.split())


def test_a_forged_manage_link_shows_nothing(client: Client, subscription: Subscription) -> None:
    response = client.get(f"/subscriptions/{subscription.id}:forged/")

    assert response.status_code == 404
    assert SUBSCRIPTION_LINK_INVALID in response.content.decode()


def test_changing_the_schedule_moves_the_next_week_to_the_new_slot(
    client: Client, subscription: Subscription
) -> None:
    with time_machine.travel(datetime.datetime(2025, 1, 2, tzinfo=UTC), tick=False):
        response = client.post(
            manage_path(subscription, "schedule"),
            {"weekday": "4", "send_time": "18:15", "timezone": "America/New_York"},
        )

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.weekday, subscription.send_time, subscription.timezone) == (
        4,
        datetime.time(18, 15),
        "America/New_York",
    )
    assert subscription.next_send_at == datetime.datetime(2025, 1, 3, 23, 15, tzinfo=UTC)  # Friday 18:15 EST


def test_a_schedule_change_never_brings_a_week_within_a_day_of_the_last(
    client: Client, subscription: Subscription
) -> None:
    sent_at = datetime.datetime(2025, 1, 6, 7, tzinfo=UTC)
    Subscription.objects.filter(id=subscription.id).update(last_dispatched_at=sent_at)
    with time_machine.travel(sent_at + datetime.timedelta(hours=1), tick=False):
        client.post(manage_path(subscription), {})  # GET-only page: refused, changes nothing
        client.post(
            manage_path(subscription, "schedule"),
            {"weekday": "0", "send_time": "10:00", "timezone": "Europe/Berlin"},
        )

    subscription.refresh_from_db()
    assert subscription.next_send_at == datetime.datetime(
        2025, 1, 13, 9, tzinfo=UTC
    )  # not 10:00 the same day


def test_an_invalid_schedule_is_refused_with_the_reason(client: Client, subscription: Subscription) -> None:
    response = client.post(
        manage_path(subscription, "schedule"), {"weekday": "0", "send_time": "08:00", "timezone": "Moon/Base"}
    )

    assert response.status_code == 400
    assert TIMEZONE_UNKNOWN in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.timezone == "Europe/Berlin"


def test_a_paused_course_sends_nothing_and_resumes_where_it_stopped(
    client: Client,
    subscription: Subscription,
    sendgrid: FakeSendGrid,
    dispatch: Callable[..., DispatchResult],
) -> None:
    with time_machine.travel(datetime.datetime(2025, 1, 2, tzinfo=UTC), tick=False):
        client.post(manage_path(subscription, "pause"))
    for day in (6, 13, 20):
        dispatch(datetime.datetime(2025, 1, day, 7, tzinfo=UTC))
    assert sendgrid.messages == []

    with time_machine.travel(datetime.datetime(2025, 1, 22, tzinfo=UTC), tick=False):
        client.post(manage_path(subscription, "resume"))
        dispatch()

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert (subscription.next_week, subscription.next_send_at) == (
        3,
        datetime.datetime(2025, 1, 27, 7, tzinfo=UTC),
    )
    assert sendgrid.messages == []
    with time_machine.travel(datetime.datetime(2025, 1, 27, 7, tzinfo=UTC), tick=False):
        dispatch()
    assert weeks_sent(sendgrid) == [3]


def test_catching_up_sends_the_weeks_missed_while_paused_at_once(
    client: Client, subscription: Subscription, sendgrid: FakeSendGrid, dispatch: Callable[..., DispatchResult],
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    Subscription.objects.filter(id=subscription.id).update(next_week=1)
    with time_machine.travel(datetime.datetime(2025, 1, 2, tzinfo=UTC), tick=False):
        client.post(manage_path(subscription, "pause"))
    with time_machine.travel(datetime.datetime(2025, 1, 15, tzinfo=UTC), tick=False):
        page = client.get(manage_path(subscription))
        assert "send the 2 weeks I missed now" in page.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(manage_path(subscription, "resume"), {"catch_up": "on"})

    assert sorted(weeks_sent(sendgrid)) == [1, 2]
    subscription.refresh_from_db()
    assert (subscription.next_week, subscription.catch_up_weeks) == (3, 0)
    assert subscription.next_send_at == datetime.datetime(2025, 1, 20, 7, tzinfo=UTC)


def test_send_the_next_week_now_then_carry_on_at_the_usual_slot(
    client: Client,
    subscription: Subscription,
    sendgrid: FakeSendGrid,
    django_capture_on_commit_callbacks: Any,
) -> None:
    moment = datetime.datetime(2025, 1, 2, 12, tzinfo=UTC)
    with time_machine.travel(moment, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = client.post(manage_path(subscription, "send-now"))

    assert response.status_code == 302
    assert weeks_sent(sendgrid) == [3]
    subscription.refresh_from_db()
    assert subscription.next_week == 4
    assert subscription.next_send_at == schedule_next_slot(subscription, after=moment)


def test_send_now_is_refused_while_paused(client: Client, subscription: Subscription) -> None:
    client.post(manage_path(subscription, "pause"))

    page = client.post(manage_path(subscription, "send-now"), follow=True)

    assert NOT_ACTIVE in page.content.decode()
    subscription.refresh_from_db()
    assert subscription.next_send_at is None


def test_the_manage_page_lists_the_weeks_sent(
    client: Client,
    subscription: Subscription,
    sendgrid: FakeSendGrid,
    dispatch: Callable[..., DispatchResult],
) -> None:
    dispatch(datetime.datetime(2025, 1, 6, 7, tzinfo=UTC))

    page = client.get(manage_path(subscription)).content.decode()

    assert "Weeks sent" in page
    assert "<td>3</td><td>Sent</td>" in page
    assert timezone.now()  # the page renders with the real clock too


@pytest.mark.parametrize("withheld", [{"review_state": Course.Review.REJECTED}, {"held_for_review": True}])
def test_manage_and_calendar_links_stop_showing_a_withheld_course_but_unsubscribing_still_works(
    client: Client, subscription: Subscription, withheld: dict[str, Any]
) -> None:
    Course.objects.filter(pk=subscription.course_id).update(**withheld)
    calendar = links.calendar_url(
        subscription_id=subscription.id, generation=subscription.link_generation
    ).removeprefix("https://semester.test")

    for response in (client.get(manage_path(subscription)), client.get(calendar)):
        assert response.status_code == 404
        assert COURSE_WITHDRAWN in response.content.decode()
        assert subscription.course.title not in response.content.decode()
    client.post(
        links.unsubscribe_url(
            subscription_id=subscription.id, generation=subscription.link_generation
        ).removeprefix("https://semester.test")
    )
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.UNSUBSCRIBED


# Scoped links: a read-only calendar address apart from the manage link, and both replaceable.
def site_path(url: str) -> str:
    return url.removeprefix("https://semester.test")


def test_a_calendar_address_opens_neither_the_manage_page_nor_unsubscribing(
    client: Client, subscription: Subscription
) -> None:
    calendar_token = tokens.calendar_token(subscription_id=subscription.id, generation=0)
    manage_token = tokens.manage_token(subscription_id=subscription.id, generation=0)

    assert client.get(f"/subscriptions/{calendar_token}/").status_code == 404
    assert client.post(f"/subscriptions/{calendar_token}/pause/").status_code == 302  # back to a 404 page
    assert client.post(f"/unsubscribe/{calendar_token}/").status_code == 404
    assert client.get(f"/subscriptions/{manage_token}/calendar.ics").status_code == 404  # and the reverse
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.email not in client.get(f"/subscriptions/{calendar_token}/").content.decode()


def test_replacing_the_links_retires_the_old_ones_and_emails_the_new_manage_link(
    client: Client, subscription: Subscription, django_capture_on_commit_callbacks: Any
) -> None:
    old_manage, old_calendar, old_unsubscribe = (
        site_path(url(subscription_id=subscription.id, generation=0))
        for url in (links.manage_url, links.calendar_url, links.unsubscribe_url)
    )
    assert 'action="' + old_manage + 'replace-links/"' in client.get(old_manage).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(f"{old_manage}replace-links/")

    subscription.refresh_from_db()
    new_calendar = links.calendar_url(subscription_id=subscription.id, generation=1)
    new_manage = links.manage_url(subscription_id=subscription.id, generation=1)
    assert page.status_code == 200
    assert new_calendar in page.content.decode()
    assert new_manage not in page.content.decode()  # the new manage link goes only to the inbox
    [email] = mail.outbox
    assert email.to == [subscription.email]
    assert new_manage in email.body
    assert client.get(site_path(new_manage)).status_code == 200
    assert client.get(site_path(new_calendar)).status_code == 200
    for old in (client.get(old_manage), client.get(old_calendar), client.post(old_unsubscribe)):
        assert old.status_code == 410
        assert LINK_REPLACED in html.unescape(old.content.decode())
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_my_learning_and_the_weekly_email_carry_the_current_links(
    client: Client,
    subscription: Subscription,
    dispatch: Callable[..., DispatchResult],
    sendgrid: FakeSendGrid,
) -> None:
    subscriptions.subscription_links_replace(subscription=subscription)
    subscription.refresh_from_db()
    assert subscription.user is not None
    client.force_login(subscription.user)

    [row] = learner_subscriptions(user=subscription.user)
    with time_machine.travel(datetime.datetime(2025, 1, 6, 7, tzinfo=UTC), tick=False):
        dispatch()

    current = links.manage_url(subscription_id=subscription.id, generation=1)
    assert row.manage_url == site_path(current)
    assert current in (sendgrid.messages[0].text or "")
    assert links.calendar_url(subscription_id=subscription.id, generation=1) in (
        sendgrid.messages[0].text or ""
    )


def test_links_from_before_the_scopes_still_unsubscribe_and_read_the_calendar_but_no_longer_manage(
    client: Client, subscription: Subscription
) -> None:
    legacy = signing.Signer(salt="delivery.subscription").sign(str(subscription.id))

    assert client.get(f"/subscriptions/{legacy}/calendar.ics").status_code == 200
    assert client.get(f"/subscriptions/{legacy}/").status_code == 410
    assert client.get(f"/unsubscribe/{legacy}/").status_code == 200
    subscriptions.subscription_links_replace(subscription=subscription)
    assert client.get(f"/subscriptions/{legacy}/calendar.ics").status_code == 410
    assert client.post(f"/unsubscribe/{legacy}/").status_code == 410
