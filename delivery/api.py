"""The delivery part of the JSON API: subscribing to a course's weekly emails."""

from __future__ import annotations

import datetime
from uuid import UUID

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from courses.models import Course
from delivery import services
from delivery.forms import SubscribeForm
from delivery.services import RateLimited, SubscriptionError
from delivery.views.subscriptions import client_ip

router = Router(tags=["subscriptions"])

CONFIRMATION_SENT = "Check your inbox: the subscription starts once the address is confirmed."


class SubscriptionIn(Schema):
    email: str
    weekday: int = 0  # 0 = Monday … 6 = Sunday
    time: datetime.time = datetime.time(8, 0)  # local time, "HH:MM"
    timezone: str = "UTC"  # IANA name
    send_first_now: bool = False


class SubscriptionAccepted(Schema):
    status: str
    detail: str


class Error(Schema):
    detail: str
    errors: dict[str, list[str]] = {}


@router.post(
    "/courses/{course_id}/subscriptions",
    response={202: SubscriptionAccepted, 400: Error, 404: Error, 429: Error},
    summary="Subscribe an address to a course's weekly emails (double opt-in)",
)
def subscription_create(
    request: HttpRequest, course_id: UUID, payload: SubscriptionIn
) -> Status[SubscriptionAccepted | Error]:
    """Sends a confirmation link; nothing else is sent until it is clicked. The answer is the same whether
    or not the address already subscribed."""
    course = get_object_or_404(Course, id=course_id)
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
        errors = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
        return Status(400, Error(detail="Invalid subscription.", errors=errors))
    try:
        services.subscription_request(
            course=course,
            email=form.cleaned_data["email"],
            schedule=form.schedule(),
            send_first_now=form.cleaned_data["send_first_now"],
            ip=client_ip(request),
        )
    except SubscriptionError as error:
        return Status(429 if isinstance(error, RateLimited) else 400, Error(detail=str(error)))
    return Status(202, SubscriptionAccepted(status="pending_confirmation", detail=CONFIRMATION_SENT))
