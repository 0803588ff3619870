"""The send task of one course-week: outcomes recorded on the ledger rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from courses.models import Course
from delivery.email.dispatch import due_deliveries_plan
from delivery.models import Delivery, Subscription
from delivery.tasks import send_week_batch
from tests.fakes.sendgrid_server import FakeSendGrid

pytestmark = pytest.mark.django_db

Subscribe = Callable[..., Subscription]


@pytest.fixture
def planned(subscribe: Subscribe) -> list[Subscription]:
    """Three subscriptions whose week 1 is in the ledger, waiting for its send task."""
    subscriptions = [subscribe() for _ in range(3)]
    due_deliveries_plan(now=timezone.now())
    return subscriptions


def send(course: Course) -> Any:
    return send_week_batch.apply(args=(str(course.id), 1)).get()


def test_a_refusal_marks_the_rows_failed_with_sendgrids_reason(
    sendgrid: FakeSendGrid, planned: list[Subscription], course: Course
) -> None:
    sendgrid.fail_next(400)

    assert send(course)["failed"] == 3

    assert set(Delivery.objects.values_list("status", "error")) == {
        (Delivery.Status.FAILED, "400 Bad Request (injected fault)")
    }


def test_a_rejected_address_fails_alone(
    sendgrid: FakeSendGrid, planned: list[Subscription], course: Course
) -> None:
    sendgrid.reject_addresses = {planned[1].email}

    send(course)

    assert Delivery.objects.get(subscription=planned[1]).status == Delivery.Status.FAILED
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 2


def test_when_sendgrid_stays_down_the_rows_wait_and_the_task_tries_again(
    sendgrid: FakeSendGrid, planned: list[Subscription], course: Course, settings: Any
) -> None:
    settings.SENDGRID_MAX_RETRIES = 1
    sendgrid.fail_next(503, times=2)  # outlasts the first run's retries; the task's own retry succeeds

    send(course)

    rows = Delivery.objects.all()
    assert {(row.status, row.attempts) for row in rows} == {(Delivery.Status.SENT, 2)}
    assert len(sendgrid.messages) == 3


def test_a_row_tried_too_often_fails_visibly_with_its_last_error(
    sendgrid: FakeSendGrid, planned: list[Subscription], course: Course, settings: Any
) -> None:
    settings.SENDGRID_MAX_RETRIES = 0
    settings.DELIVERY_MAX_ATTEMPTS = 2
    sendgrid.fault_rate, sendgrid.fault_statuses = 1.0, [503]

    send(course)

    row = Delivery.objects.first()
    assert row is not None
    assert row.status == Delivery.Status.FAILED
    assert row.error == "Gave up after 2 attempts. Last error: 503 service unavailable"
    assert sendgrid.messages == []


def test_a_lost_answer_leaves_the_rows_sending_for_the_reconciler(
    sendgrid: FakeSendGrid, planned: list[Subscription], course: Course
) -> None:
    sendgrid.fail_next("disconnect")

    result = send(course)

    assert result["unknown"] == 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENDING}


def test_running_the_task_again_sends_nothing_more(
    sendgrid: FakeSendGrid, planned: list[Subscription], course: Course
) -> None:
    send(course)
    again = send(course)

    assert again["sent"] == 0
    assert len(sendgrid.messages) == 3


def test_weeks_of_a_course_withdrawn_after_planning_are_cancelled(
    sendgrid: FakeSendGrid, planned: list[Subscription], course: Course
) -> None:
    Course.objects.filter(id=course.id).update(review_state=Course.Review.REJECTED)

    assert send(course)["cancelled"] == 3
    assert sendgrid.messages == []


def test_an_address_that_unsubscribed_after_planning_is_not_sent_to(
    sendgrid: FakeSendGrid, planned: list[Subscription], course: Course
) -> None:
    Subscription.objects.filter(id=planned[0].id).update(status=Subscription.Status.UNSUBSCRIBED)

    send(course)

    assert Delivery.objects.get(subscription=planned[0]).status == Delivery.Status.CANCELLED
    assert planned[0].email not in {m.to for m in sendgrid.messages}
