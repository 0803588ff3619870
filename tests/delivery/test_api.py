"""POST /api/courses/{id}/subscriptions."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from courses.models import Course
from delivery.api import CONFIRMATION_SENT
from delivery.email.schedule import TIMEZONE_UNKNOWN
from delivery.email.subscriptions import COURSE_NOT_EMAILABLE, TOO_MANY_FOR_ADDRESS
from delivery.models import Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribe_api(client: Client, django_capture_on_commit_callbacks: Any) -> Any:
    def post(course_id: object, **payload: Any) -> Any:
        body = {
            "email": "ada@example.com",
            "weekday": 3,
            "time": "19:00",
            "timezone": "Asia/Tokyo",
            **payload,
        }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/api/courses/{course_id}/subscriptions", json.dumps(body), content_type="application/json"
            )

    return post


def test_subscribing_through_the_api_sends_a_confirmation_link(subscribe_api: Any, course: Course) -> None:
    response = subscribe_api(course.id)

    assert response.status_code == 202
    assert response.json() == {"status": "pending_confirmation", "detail": CONFIRMATION_SENT}
    subscription = Subscription.objects.get()
    assert (subscription.status, subscription.weekday, subscription.timezone) == ("pending", 3, "Asia/Tokyo")
    assert "/subscriptions/confirm/" in mail.outbox[0].body


def test_invalid_fields_are_a_422_that_names_them(subscribe_api: Any, course: Course) -> None:
    response = subscribe_api(course.id, email="not-an-address", timezone="Nowhere/Land")

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {error["field"] for error in errors} == {"email", "timezone"}
    assert {"field": "timezone", "message": TIMEZONE_UNKNOWN} in errors
    assert not Subscription.objects.exists()


def test_a_course_that_may_not_be_emailed_is_a_422(subscribe_api: Any, course: Course) -> None:
    Course.objects.filter(id=course.id).update(held_for_review=True)

    response = subscribe_api(course.id)

    assert response.status_code == 422
    assert response.json()["detail"] == COURSE_NOT_EMAILABLE


def test_an_unknown_course_is_a_404(subscribe_api: Any) -> None:
    assert subscribe_api(uuid.uuid4()).status_code == 404


def test_too_many_confirmation_emails_are_a_429(subscribe_api: Any, course: Course, settings: Any) -> None:
    for _ in range(settings.DELIVERY_CONFIRM_LIMIT_PER_ADDRESS):
        subscribe_api(course.id)

    response = subscribe_api(course.id)

    assert response.status_code == 429
    assert response.json()["detail"] == TOO_MANY_FOR_ADDRESS
