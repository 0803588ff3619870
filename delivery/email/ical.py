"""An iCalendar feed (RFC 5545) of a subscriber's upcoming weeks: one event per week, at its send time.

Written by hand: a dozen lines of text need no library, only CRLF line endings, escaped text and lines
folded at 75 octets.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from urllib.parse import urlparse

from django.conf import settings
from django.utils import timezone

from courses.selectors import weeks_outline_for_email
from delivery.email import links
from delivery.email.schedule import schedule_next_slot
from delivery.models import Subscription

EVENT_MINUTES = 30
MAX_LINE_OCTETS = 75


def ical_escape(text: str) -> str:
    """TEXT values: backslash, semicolon, comma and newlines escaped (RFC 5545 §3.3.11)."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def ical_fold(line: str) -> str:
    """Split a content line into lines of at most 75 octets, never inside a UTF-8 character (§3.1)."""
    parts: list[str] = []
    current, size, limit = "", 0, MAX_LINE_OCTETS
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            parts.append(current)
            current, size, limit = "", 0, MAX_LINE_OCTETS - 1  # continuation lines start with a space
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def upcoming_weeks(subscription: Subscription) -> list[tuple[int, datetime.datetime]]:
    """(week number, send time) of every week still to come; none unless the subscription is active."""
    if subscription.status != Subscription.Status.ACTIVE or subscription.next_send_at is None:
        return []
    weeks = range(subscription.next_week, subscription.course.weeks_count + 1)
    at = subscription.next_send_at
    upcoming = []
    for index, week in enumerate(weeks):
        if index > subscription.catch_up_weeks:  # caught-up weeks share the first slot
            at = schedule_next_slot(subscription, after=at)
        upcoming.append((week, at))
    return upcoming


def subscription_calendar(subscription: Subscription) -> str:
    titles = {week.number: week.title for week in weeks_outline_for_email(course_id=subscription.course_id)}
    course_title = subscription.course.title or subscription.course.topic
    host = urlparse(settings.SITE_URL).hostname or "semester"
    stamp = _utc(timezone.now())
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Semester//Weekly course emails//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ical_escape(course_title)}",
    ]
    for number, at in upcoming_weeks(subscription):
        lines += _event(subscription, number, titles.get(number, ""), course_title, at, host, stamp)
    lines.append("END:VCALENDAR")
    return "".join(ical_fold(line) + "\r\n" for line in lines)


def _event(
    subscription: Subscription,
    number: int,
    title: str,
    course_title: str,
    at: datetime.datetime,
    host: str,
    stamp: str,
) -> Iterable[str]:
    url = links.course_url(subscription.course_id)
    summary = f"{course_title}: week {number}" + (f", {title}" if title else "")
    return [
        "BEGIN:VEVENT",
        f"UID:subscription-{subscription.id}-week-{number}@{host}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{_utc(at)}",
        f"DTEND:{_utc(at + datetime.timedelta(minutes=EVENT_MINUTES))}",
        f"SUMMARY:{ical_escape(summary)}",
        f"DESCRIPTION:{ical_escape(f'Week {number} arrives by email. The course on the site: {url}')}",
        f"URL:{url}",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
    ]


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
