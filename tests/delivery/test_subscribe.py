"""Subscribing from the course page: double opt-in, rate limits, several courses per person."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from accounts.models import User
from courses.models import Course
from delivery.email.schedule import TIMEZONE_UNKNOWN, schedule_next_slot
from delivery.email.subscriptions import (
    CONFIRM_LINK_INVALID,
    COURSE_NOT_EMAILABLE,
    TOO_MANY_FOR_ADDRESS,
    TOO_MANY_FROM_NETWORK,
)
from delivery.models import Enrollment, Subscription
from delivery.tasks import purge_unconfirmed_subscriptions
from tests.factories import SubscriptionFactory, written_course
from tests.fakes.sendgrid_server import FakeSendGrid

pytestmark = pytest.mark.django_db

FORM = {"email": "Ada@Example.com", "weekday": "2", "send_time": "07:30", "timezone": "Europe/Berlin"}


@pytest.fixture
def ask(client: Client, django_capture_on_commit_callbacks: Any) -> Any:
    """POST the subscribe form, running the confirmation task it queues."""

    def post(course: Course, ip: str = "203.0.113.9", **fields: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/courses/{course.id}/subscribe/", {**FORM, **fields}, REMOTE_ADDR=ip)

    return post


def confirm_path(message: Any) -> str:
    match = re.search(r"https://semester\.test(/subscriptions/confirm/\S+/)", message.body)
    assert match, message.body
    return match[1]


def test_subscribing_sends_only_a_confirmation_link(ask: Any, course: Course) -> None:
    response = ask(course)

    assert response.status_code == 302
    assert response["Location"] == f"/courses/{course.id}/subscribe/sent/"
    subscription = Subscription.objects.get()
    assert (subscription.email, subscription.status, subscription.next_send_at) == (
        "ada@example.com",
        "pending",
        None,
    )
    assert (subscription.weekday, subscription.send_time, subscription.timezone) == (
        2,
        datetime.time(7, 30),
        "Europe/Berlin",
    )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert course.title in message.subject
    assert "Wednesday at 07:30 (Europe/Berlin)" in message.body
    assert confirm_path(message) in message.alternatives[0][0]


def test_the_confirmation_link_shows_a_button_and_only_the_post_confirms(
    client: Client, ask: Any, course: Course
) -> None:
    ask(course)
    path = confirm_path(mail.outbox[0])

    page = client.get(path)

    assert page.status_code == 200
    assert b"Confirm and start" in page.content
    assert Subscription.objects.get().status == Subscription.Status.PENDING
    confirmed = client.post(path)
    subscription = Subscription.objects.get()
    assert confirmed.status_code == 302
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.user == User.objects.get(email="ada@example.com")
    assert subscription.next_send_at == schedule_next_slot(subscription, after=subscription.confirmed_at)
    assert Enrollment.objects.filter(user=subscription.user, course=course).exists()
    assert client.get(confirmed["Location"]).status_code == 200  # the manage page


def test_confirming_twice_changes_nothing(client: Client, ask: Any, course: Course) -> None:
    ask(course)
    path = confirm_path(mail.outbox[0])
    client.post(path)
    first = Subscription.objects.get()

    client.post(path, {"send_first_now": "on"})

    again = Subscription.objects.get()
    assert (again.confirmed_at, again.next_send_at) == (first.confirmed_at, first.next_send_at)


def test_week_one_can_go_out_as_soon_as_the_address_is_confirmed(
    client: Client, ask: Any, course: Course, sendgrid: FakeSendGrid, django_capture_on_commit_callbacks: Any
) -> None:
    ask(course)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(confirm_path(mail.outbox[0]), {"send_first_now": "on"})

    assert [(m.to, "Week 1:" in (m.subject or "")) for m in sendgrid.messages] == [("ada@example.com", True)]
    assert Subscription.objects.get().next_week == 2


def test_an_expired_confirmation_link_is_refused(
    client: Client, ask: Any, course: Course, settings: Any
) -> None:
    ask(course)
    path = confirm_path(mail.outbox[0])

    later = timezone.now() + datetime.timedelta(seconds=settings.DELIVERY_CONFIRM_MAX_AGE_SECONDS + 60)
    with time_machine.travel(later):
        page, post = client.get(path), client.post(path)

    assert page.status_code == post.status_code == 404
    assert CONFIRM_LINK_INVALID in page.content.decode()
    assert Subscription.objects.get().status == Subscription.Status.PENDING


def test_a_tampered_confirmation_link_is_refused(client: Client, ask: Any, course: Course) -> None:
    ask(course)
    path = confirm_path(mail.outbox[0])

    assert client.post(path[:-6] + "AAAAA/").status_code == 404
    assert Subscription.objects.get().status == Subscription.Status.PENDING


def test_confirmation_emails_are_limited_per_address(ask: Any, course: Course, settings: Any) -> None:
    for n in range(settings.DELIVERY_CONFIRM_LIMIT_PER_ADDRESS):
        assert ask(course, ip=f"203.0.113.{n}").status_code == 302

    refused = ask(course, ip="198.51.100.1", email="ADA@example.com")

    assert refused.status_code == 429
    assert TOO_MANY_FOR_ADDRESS in refused.content.decode()
    assert len(mail.outbox) == settings.DELIVERY_CONFIRM_LIMIT_PER_ADDRESS


def test_the_limit_per_address_counts_plus_tags_case_and_gmail_dots_as_one_inbox(
    ask: Any, course: Course, settings: Any
) -> None:
    for n in range(settings.DELIVERY_CONFIRM_LIMIT_PER_ADDRESS):
        assert ask(course, ip=f"203.0.113.{n}", email=f"Victim+{n}@Gmail.com").status_code == 302

    for variant in ("v.i.c.t.i.m@googlemail.com", "victim+again@gmail.com"):
        refused = ask(course, ip="198.51.100.1", email=variant)
        assert refused.status_code == 429
        assert TOO_MANY_FOR_ADDRESS in refused.content.decode()
    assert len(mail.outbox) == settings.DELIVERY_CONFIRM_LIMIT_PER_ADDRESS


def test_confirmation_emails_are_limited_per_ip_address(ask: Any, course: Course, settings: Any) -> None:
    settings.DELIVERY_CONFIRM_LIMIT_PER_IP = 2
    ask(course, email="one@example.com")
    ask(course, email="two@example.com")

    refused = ask(course, email="three@example.com")

    assert refused.status_code == 429
    assert TOO_MANY_FROM_NETWORK in refused.content.decode()
    assert ask(course, email="three@example.com", ip="198.51.100.7").status_code == 302


def test_an_address_that_already_receives_the_course_gets_its_manage_link_and_nothing_changes(
    ask: Any, course: Course
) -> None:
    subscription = SubscriptionFactory(course=course, email="ada@example.com", user__email="ada@example.com")

    response = ask(course, weekday="5", send_time="22:00")

    assert response.status_code == 302  # the same answer as for a new address
    subscription.refresh_from_db()
    assert (subscription.weekday, subscription.send_time, subscription.status) == (
        0,
        datetime.time(8),
        "active",
    )
    assert "already receive" in mail.outbox[0].subject
    assert f"/subscriptions/{subscription.id}.0:" in mail.outbox[0].body


def test_the_same_person_follows_several_courses_as_one_learner(
    client: Client, ask: Any, course: Course
) -> None:
    other = written_course(weeks=4, lessons_per_week=1)
    ask(course)
    ask(other)
    for message in mail.outbox:
        client.post(confirm_path(message))

    assert Subscription.objects.filter(status="active").count() == 2
    user = User.objects.get(email="ada@example.com")
    assert set(Enrollment.objects.filter(user=user).values_list("course_id", flat=True)) == {
        course.id,
        other.id,
    }


def test_resubscribing_after_unsubscribing_picks_up_where_it_stopped(
    client: Client, ask: Any, course: Course
) -> None:
    SubscriptionFactory(
        course=course,
        email="ada@example.com",
        user__email="ada@example.com",
        status="unsubscribed",
        next_week=3,
    )

    ask(course)
    client.post(confirm_path(mail.outbox[0]))

    subscription = Subscription.objects.get()
    assert (subscription.status, subscription.next_week) == ("active", 3)


def test_an_unknown_timezone_is_refused_with_a_helpful_message(ask: Any, course: Course) -> None:
    response = ask(course, timezone="Europe/Atlantis")

    assert response.status_code == 400
    html = response.content.decode()
    assert f'<span class="subscribe-error" id="subscribe_timezone_error">{TIMEZONE_UNKNOWN}</span>' in html
    assert 'aria-describedby="subscribe_timezone_help subscribe_timezone_error" aria-invalid="true"' in html
    assert not Subscription.objects.exists()
    assert mail.outbox == []


def test_the_subscribe_page_has_one_main_heading_open_or_closed(client: Client, course: Course) -> None:
    unfinished = written_course(weeks=4, lessons_per_week=1, status=Course.Status.FAILED)

    for shown in (course, unfinished):
        html = client.get(f"/courses/{shown.id}/subscribe/").content.decode()
        assert html.count("<h1") == 1


def test_a_course_that_may_not_be_emailed_cannot_be_subscribed_to(ask: Any, client: Client) -> None:
    unfinished = written_course(weeks=4, lessons_per_week=1, status=Course.Status.FAILED)

    assert COURSE_NOT_EMAILABLE in client.get(f"/courses/{unfinished.id}/subscribe/").content.decode()
    assert ask(unfinished).status_code == 400
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    ("withheld", "status"),
    [({"review_state": Course.Review.REJECTED}, 404), ({"held_for_review": True}, 403)],
)
def test_the_subscribe_pages_of_a_withheld_course_answer_as_its_other_pages_do(
    ask: Any, client: Client, withheld: dict[str, Any], status: int
) -> None:
    course = written_course(weeks=4, lessons_per_week=1, title="Secret title", **withheld)

    for path in (f"/courses/{course.id}/subscribe/", f"/courses/{course.id}/subscribe/sent/"):
        response = client.get(path)
        assert response.status_code == status, path
        assert "Secret title" not in response.content.decode()
    assert ask(course).status_code == status
    assert not Subscription.objects.exists()


def test_the_form_partial_posts_to_the_subscribe_view_and_detects_the_timezone(
    course: Course, rf: Any
) -> None:
    html = render_to_string(
        "delivery/_subscribe_form.html", {"course": course}, request=rf.get(f"/courses/{course.id}/")
    )

    assert f'action="/courses/{course.id}/subscribe/"' in html
    assert 'name="timezone"' in html
    assert "data-detect-timezone" in html
    assert "Intl.DateTimeFormat().resolvedOptions().timeZone" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<option value="0" selected>Monday</option>' in html
    assert 'value="08:00"' in html


def test_a_subscription_never_confirmed_is_forgotten_once_its_latest_link_has_expired(
    ask: Any, course: Course, settings: Any
) -> None:
    settings.DELIVERY_CONFIRM_MAX_AGE_SECONDS = 3 * 24 * 3600
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ask(course, email="never@example.com")
        ask(course, email="asked-again@example.com")
        ask(course, email="confirmed@example.com")
    confirmed = Subscription.objects.get(email="confirmed@example.com")
    with time_machine.travel(start + datetime.timedelta(days=1), tick=False):
        client = Client()
        client.post(confirm_path(mail.outbox[-1]))
        ask(course, email="asked-again@example.com")  # a fresh link: the purge counts from this one
    confirmed.refresh_from_db()
    assert confirmed.status == Subscription.Status.ACTIVE

    with time_machine.travel(start + datetime.timedelta(days=3, minutes=1), tick=False):
        purge_unconfirmed_subscriptions.apply()
    assert set(Subscription.objects.values_list("email", flat=True)) == {
        "asked-again@example.com",
        "confirmed@example.com",
    }
    with time_machine.travel(start + datetime.timedelta(days=4, minutes=1), tick=False):
        assert purge_unconfirmed_subscriptions.apply().get() == {"deleted": 1}
    assert list(Subscription.objects.values_list("email", flat=True)) == ["confirmed@example.com"]


def test_a_subscription_confirmed_once_is_kept_while_a_new_request_for_it_waits(
    ask: Any, course: Course
) -> None:
    """An ended subscription asked for again is pending, but it holds the learner's history: never purged."""
    subscription = SubscriptionFactory(
        course=course, email="ada@example.com", status=Subscription.Status.UNSUBSCRIBED
    )
    Subscription.objects.filter(id=subscription.id).update(confirmed_at=timezone.now())
    ask(course, email="ada@example.com")
    assert Subscription.objects.get(id=subscription.id).status == Subscription.Status.PENDING
    with time_machine.travel(timezone.now() + datetime.timedelta(days=30)):
        assert purge_unconfirmed_subscriptions.apply().get() == {"deleted": 0}
    assert Subscription.objects.filter(id=subscription.id).exists()
