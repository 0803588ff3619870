"""Subscribing by email, confirming, managing the schedule, replacing the links, the calendar feed and
unsubscribing.

Links in emails only ever show a page on GET (mail scanners fetch them); changes happen on POST.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from courses.models import Course
from courses.selectors import course_get, course_is_emailable
from courses.visibility import course_readable
from delivery.email import links, subscriptions, tokens
from delivery.email.forms import ResumeForm, ScheduleForm, SubscribeForm
from delivery.email.ical import subscription_calendar
from delivery.email.schedule import schedule_zone
from delivery.email.subscriptions import COURSE_NOT_EMAILABLE, LinkReplaced, RateLimited, SubscriptionError
from delivery.models import Subscription
from school.http import client_ip

SCHEDULE_SAVED = "Your schedule is saved."
PAUSED = "Paused. Nothing is sent until you resume."
RESUMED = "Resumed: the course picks up where it stopped."
CAUGHT_UP = "Resumed: the weeks you missed are on their way now."
SENDING_NOW = "Your next week is on its way: it arrives within a couple of minutes."
CONFIRMED = "Subscribed! Your first week is scheduled below."


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest, course_id: UUID) -> HttpResponse:
    course = _course(request, course_id)
    form = SubscribeForm(request.POST if request.method == "POST" else None)
    status = 200
    if not course_is_emailable(course):
        context = {
            "course": course,
            "course_url": links.course_url(course.id),
            "subscribe_form": form,
            "closed_message": COURSE_NOT_EMAILABLE,
        }
        return render(request, "delivery/subscribe.html", context, status=400 if form.is_bound else 200)
    if form.is_valid():
        try:
            form.subscription_request(course=course, ip=client_ip(request))
        except SubscriptionError as error:
            form.add_error(None, str(error))
            status = 429 if isinstance(error, RateLimited) else 400
        else:
            return redirect("delivery:subscribe_sent", course_id=course.id)
    elif form.is_bound:
        status = 400
    context = {"course": course, "course_url": links.course_url(course.id), "subscribe_form": form}
    return render(request, "delivery/subscribe.html", context, status=status)


def _course(request: HttpRequest, course_id: UUID) -> Course:
    """The course, answered as its other pages answer: 404 if gone or rejected, 403 while held."""
    return course_readable(request, course_get(course_id=course_id))


@require_GET
def subscribe_sent(request: HttpRequest, course_id: UUID) -> HttpResponse:
    course = _course(request, course_id)
    return render(request, "delivery/subscribe_sent.html", {"course": course})


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (scanners prefetch links); the POST confirms."""
    try:
        if request.method == "POST":
            subscription = subscriptions.subscription_confirm(
                token=token, send_first_now=request.POST.get("send_first_now") == "on"
            )
            messages.success(request, CONFIRMED)
            token = tokens.manage_token(
                subscription_id=subscription.id, generation=subscription.link_generation
            )
            return redirect("delivery:manage", token=token)
        subscription = subscriptions.subscription_for_confirmation(token=token)
    except SubscriptionError as error:
        return _invalid(request, error)
    return render(
        request, "delivery/confirm.html", {"subscription": subscription, "course": subscription.course}
    )


@require_GET
def manage(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscription = subscriptions.subscription_from_token(token)
    except SubscriptionError as error:
        return _invalid(request, error)
    return render(request, "delivery/manage.html", _manage_context(subscription, token))


def _manage_context(
    subscription: Subscription, token: str, form: ScheduleForm | None = None
) -> dict[str, Any]:
    tz = schedule_zone(subscription)
    initial = {
        "weekday": subscription.weekday,
        "send_time": subscription.send_time,
        "timezone": subscription.timezone,
    }
    return {
        "subscription": subscription,
        "course": subscription.course,
        "token": token,
        "form": form or ScheduleForm(initial=initial),
        "next_send_local": subscription.next_send_at.astimezone(tz) if subscription.next_send_at else None,
        "missed_weeks": subscriptions.subscription_missed_weeks(subscription),
        "deliveries": subscription.deliveries.order_by("week_number")[:20],
        "calendar_url": links.calendar_url(
            subscription_id=subscription.id, generation=subscription.link_generation
        ),
        "course_url": links.course_url(subscription.course_id),
        "now": timezone.now(),
    }


@require_POST
def manage_schedule(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscription = subscriptions.subscription_from_token(token)
    except SubscriptionError as error:
        return _invalid(request, error)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        return render(request, "delivery/manage.html", _manage_context(subscription, token, form), status=400)
    subscriptions.subscription_schedule_change(subscription=subscription, schedule=form.schedule())
    messages.success(request, SCHEDULE_SAVED)
    return redirect("delivery:manage", token=token)


@require_POST
def manage_pause(request: HttpRequest, token: str) -> HttpResponse:
    return _manage_action(request, token, lambda s: subscriptions.subscription_pause(subscription=s), PAUSED)


@require_POST
def manage_resume(request: HttpRequest, token: str) -> HttpResponse:
    form = ResumeForm(request.POST)
    catch_up = form.is_valid() and form.cleaned_data["catch_up"]
    message = CAUGHT_UP if catch_up else RESUMED
    return _manage_action(
        request,
        token,
        lambda s: subscriptions.subscription_resume(subscription=s, catch_up=catch_up),
        message,
    )


@require_POST
def manage_send_now(request: HttpRequest, token: str) -> HttpResponse:
    return _manage_action(
        request, token, lambda s: subscriptions.subscription_send_next_now(subscription=s), SENDING_NOW
    )


@require_POST
def manage_replace_links(request: HttpRequest, token: str) -> HttpResponse:
    """Retire this page's address, the unsubscribe links and the calendar address; the new manage link goes
    by email, the new calendar address is shown here. Works while a course is withheld, as leaving does."""
    try:
        subscription = subscriptions.subscription_from_token(token, withheld_ok=True)
    except SubscriptionError as error:
        return _invalid(request, error)
    subscription = subscriptions.subscription_links_replace(subscription=subscription)
    context = {
        "subscription": subscription,
        "course": subscription.course,
        "calendar_url": links.calendar_url(
            subscription_id=subscription.id, generation=subscription.link_generation
        ),
    }
    return render(request, "delivery/links_replaced.html", context)


def _manage_action(request: HttpRequest, token: str, action: Any, done: str) -> HttpResponse:
    try:
        action(subscriptions.subscription_from_token(token))
    except SubscriptionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return redirect("delivery:manage", token=token)


@csrf_exempt  # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" with no session and no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button and changes nothing; POST (the button, or a mail client's one-click) unsubscribes."""
    try:
        subscription = subscriptions.subscription_from_token(
            token, scope=tokens.Scope.UNSUBSCRIBE, withheld_ok=True
        )
        if request.method == "POST":
            subscription = subscriptions.subscription_unsubscribe(subscription=subscription)
            return render(
                request, "delivery/unsubscribed.html", {"subscription": subscription, "token": token}
            )
    except SubscriptionError as error:
        return _invalid(request, error)
    context = {"subscription": subscription, "course": subscription.course, "token": token}
    return render(request, "delivery/unsubscribe.html", context)


@require_GET
def calendar(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscription = subscriptions.subscription_from_token(token, scope=tokens.Scope.CALENDAR)
    except SubscriptionError as error:
        return _invalid(request, error)
    response = HttpResponse(subscription_calendar(subscription), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="semester-weeks.ics"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _invalid(request: HttpRequest, error: SubscriptionError) -> HttpResponse:
    replaced = isinstance(error, LinkReplaced)
    context = {"message": str(error), "replaced": replaced}
    return render(request, "delivery/link_invalid.html", context, status=410 if replaced else 404)
