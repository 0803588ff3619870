""" "Email me when it is ready": one email when the course a visitor waits for is written (or fails)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from courses.generation import pipeline
from courses.models import Course
from courses.reading.notify import course_ended_notify
from courses.reading.views import NOTIFY_KEPT
from courses.visibility import REQUESTED_SESSION_KEY
from tests.factories import UserFactory, written_course

pytestmark = pytest.mark.django_db


def being_written(**fields: Any) -> Course:
    """A course whose parts are all written but not yet flipped to ready: the next finish makes it ready."""
    return written_course(weeks=1, lessons_per_week=1, status=Course.Status.WRITING, ready_at=None, **fields)


def as_requester(client: Client, course: Course) -> None:
    session = client.session
    session[REQUESTED_SESSION_KEY] = [str(course.id)]
    session.save()


def test_the_requester_leaves_an_address_and_gets_one_email_when_the_course_is_written(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    course = being_written(title="Sourdough baking")
    as_requester(client, course)
    page = client.get(reverse("courses:writing", args=[course.id])).content.decode()
    assert "Email me when it is ready" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("courses:writing_notify", args=[course.id]), {"email": "Ada@Example.com"}, follow=True
        )
    assert NOTIFY_KEPT.format(email="Ada@Example.com") in response.content.decode()
    assert mail.outbox == []  # not written yet

    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.course_finish(course_id=course.id)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == "Your course “Sourdough baking” is ready"
    assert f"https://semester.test{course.get_absolute_url()}" in str(message.body)

    assert not course_ended_notify(course_id=course.id)  # sent once, never again
    assert len(mail.outbox) == 1


def test_a_course_that_fails_is_reported_once_with_its_page(django_capture_on_commit_callbacks: Any) -> None:
    course = being_written(notify_email="ada@example.com")
    Course.objects.filter(id=course.id).update(status=Course.Status.FAILED)
    assert course_ended_notify(course_id=course.id)
    assert "could not be written" in mail.outbox[0].subject
    assert reverse("courses:writing", args=[course.id]) in str(mail.outbox[0].body)


def test_nothing_is_sent_without_an_address(django_capture_on_commit_callbacks: Any) -> None:
    course = being_written()
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.course_finish(course_id=course.id)
    assert mail.outbox == []


def test_only_the_requester_may_leave_an_address(client: Client) -> None:
    course = being_written()
    assert (
        "Email me when it is ready"
        not in client.get(reverse("courses:writing", args=[course.id])).content.decode()
    )
    response = client.post(reverse("courses:writing_notify", args=[course.id]), {"email": "eve@example.com"})
    assert response.status_code == 403
    course.refresh_from_db()
    assert course.notify_email == ""


def test_a_signed_in_requester_finds_their_address_filled_in(client: Client) -> None:
    learner = UserFactory(email="ada@example.com")
    course = being_written(requested_by=learner)
    client.force_login(learner)
    page = client.get(reverse("courses:writing", args=[course.id])).content.decode()
    assert 'id="notify-email" value="ada@example.com"' in page
