"""A learner subscribes to a course by email in a real browser: the form fills in their timezone, they
confirm from the email, and the manage page shows when week 1 arrives in their own time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from delivery.models import Subscription
from tests.e2e.conftest import DESKTOP, PHONE, browser_page, screenshot
from tests.factories import written_course

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def new_yorker(browser: Browser) -> Iterator[Page]:
    """A browser whose clock is in New York, as the subscribe form will detect."""
    with browser_page(browser, viewport=DESKTOP, timezone_id="America/New_York") as page:
        yield page


def test_a_learner_subscribes_in_their_timezone_and_confirms_from_the_email(
    new_yorker: Page, live_server: Any
) -> None:
    course = written_course(weeks=4, lessons_per_week=2)
    page = new_yorker

    page.goto(f"{live_server.url}/courses/{course.id}/")
    form = page.locator("form.subscribe-form")
    expect(form.get_by_label("Timezone")).to_have_value("America/New_York")
    form.get_by_label("Email").fill("ada@example.com")
    form.get_by_label("Day").select_option(label="Friday")
    form.get_by_label("Time", exact=True).fill("07:30")
    screenshot(page, "subscribe_form")
    form.get_by_role("button", name="Subscribe").click()

    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    subscription = Subscription.objects.get()
    assert (subscription.status, subscription.timezone, subscription.weekday) == (
        "pending",
        "America/New_York",
        4,
    )
    link = re.search(r"https?://\S+(/subscriptions/confirm/\S+/)", mail.outbox[0].body)
    assert link
    page.goto(live_server.url + link[1])
    page.get_by_role("button", name="Confirm and start").click()

    expect(
        page.get_by_text(re.compile(r"Week 1 of 4 arrives on Friday .* at 07:30 \(America/New_York\)"))
    ).to_be_visible()
    screenshot(page, "subscription_manage")
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE

    page.set_viewport_size({**PHONE, "width": 320})  # the two buttons no longer fit on one line
    send, pause = (
        page.get_by_role("button", name=name).bounding_box() for name in ("Send the next week now", "Pause")
    )
    assert send is not None
    assert pause is not None
    assert pause["y"] >= send["y"] + send["height"] + 4  # stacked with room between them, not touching
    screenshot(page, "subscription_manage_phone")
