"""python manage.py send_due_lessons [--now ISO-8601]"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from delivery.management.commands.send_due_lessons import NOW_INVALID
from delivery.models import Subscription
from tests.fakes.sendgrid_server import FakeSendGrid

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def run(capture: Any, *args: str) -> str:
    out = StringIO()
    with capture(execute=True):
        call_command("send_due_lessons", *args, stdout=out)
    return out.getvalue()


def test_it_sends_what_is_due_at_the_given_clock(
    sendgrid: FakeSendGrid, subscribe: Callable[..., Subscription], django_capture_on_commit_callbacks: Any
) -> None:
    subscription = subscribe(timezone="Europe/Berlin", due=datetime.datetime(2025, 1, 6, 7, tzinfo=UTC))

    early = run(django_capture_on_commit_callbacks, "--now", "2025-01-06T07:59:00+01:00")
    on_time = run(django_capture_on_commit_callbacks, "--now", "2025-01-06T08:00:00+01:00")

    assert early.startswith("0 week(s) planned")
    assert on_time.startswith("1 week(s) planned for 1 subscription(s) in 1 course-week batch(es)")
    assert [m.to for m in sendgrid.messages] == [subscription.email]
    subscription.refresh_from_db()
    assert subscription.next_send_at == datetime.datetime(2025, 1, 13, 7, tzinfo=UTC)


@pytest.mark.parametrize("value", ["tomorrow", "2025-01-06T08:00:00"])
def test_the_clock_must_be_iso_8601_with_an_offset(value: str) -> None:
    with pytest.raises(CommandError, match="ISO-8601"):
        call_command("send_due_lessons", "--now", value)
    assert "offset" in NOW_INVALID
