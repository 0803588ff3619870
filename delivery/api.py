"""The delivery part of the JSON API: subscribing an address to a course's weekly emails."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict

from courses.selectors import course_get
from delivery.email.forms import SubscribeForm
from delivery.email.subscriptions import RateLimited, SubscriptionError
from school.apitools import INVALID_INPUT, NOT_FOUND, ApiError, ErrorOut
from school.http import client_ip

router = Router(tags=["subscriptions"])

CONFIRMATION_SENT = "Check your inbox: the subscription starts once the address is confirmed."


class SubscriptionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    email: str
    weekday: int = 0  # 0 = Monday … 6 = Sunday
    time: datetime.time = datetime.time(8, 0)  # local time of day, "HH:MM"
    timezone: str = "UTC"  # IANA name, e.g. "Europe/Berlin"
    send_first_now: bool = False  # week 1 as soon as the address is confirmed


class SubscriptionAccepted(Schema):
    status: str
    detail: str


@router.post(
    "/{course_id}/subscriptions",
    response={202: SubscriptionAccepted, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="Get a course by email, one week at a time (double opt-in)",
)
def subscription_create(request: HttpRequest, course_id: UUID, payload: SubscriptionIn) -> Status[Any]:
    """Sends a link to confirm the address; nothing else is sent until it is clicked. The answer is the
    same whether or not the address already follows the course (no one learns who subscribes to what)."""
    course = course_get(course_id=course_id)
    if course is None:
        raise ApiError(404, NOT_FOUND, field="course_id")
    form = SubscribeForm(
        {
            "email": payload.email,
            "weekday": payload.weekday,
            "send_time": payload.time.strftime("%H:%M"),
            "timezone": payload.timezone,
            "send_first_now": payload.send_first_now,
        }
    )
    if not form.is_valid():
        errors = [
            {"field": "time" if name == "send_time" else name, "message": str(message)}
            for name, messages in form.errors.items()
            for message in messages
        ]
        raise ApiError(422, INVALID_INPUT, errors=errors)
    try:
        form.subscription_request(course=course, ip=client_ip(request))
    except RateLimited as error:
        raise ApiError(429, str(error)) from None
    except SubscriptionError as error:
        raise ApiError(422, str(error), field="course_id") from None
    return Status(202, {"status": "pending_confirmation", "detail": CONFIRMATION_SENT})
