"""Two-step requests in a real browser: the outline appears, its requester shapes it, confirms it, and reads
the course written from it. Screenshots land in tests/e2e/screenshots/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from courses.models import Course, OutlineRevision, Week
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COURSE_PAGE = re.compile(r"/courses/[0-9a-f-]{36}/$")


def test_a_visitor_reviews_edits_and_confirms_the_outline_then_reads_the_course(
    page: Page, live_server: Any, celery_worker: Any, settings: Any
) -> None:
    # The fake's random replies now and then fail a part's checks three times running (the course then ends
    # incomplete, shown elsewhere); this flow is about review and confirmation, so parts get more tries.
    settings.GENERATION_PART_MAX_ATTEMPTS = 8
    page.goto(live_server.url)
    page.get_by_role("textbox", name="What are you curious about?").fill("Roman aqueducts")
    page.get_by_label("Length").select_option("4")
    expect(page.get_by_label("Show me the outline first")).to_be_checked()  # the website's default
    page.get_by_role("button", name="Write my course").click()

    write = page.get_by_role("button", name="Write this course")
    expect(write).to_be_visible(timeout=30_000)  # the poller brings the outline in once it is written
    expect(page.get_by_text("LLM calls")).to_be_visible()
    screenshot(page, "outline_review")
    page.get_by_label("Week 1", exact=True).fill("Aqueducts in the hills")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Outline saved.")).to_be_visible()
    page.get_by_role("button", name="Add a week").click()
    expect(page.get_by_label("Week 5", exact=True)).to_have_value("New week")
    page.get_by_label("Week 5", exact=True).fill("Aqueducts today")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Outline saved.")).to_be_visible()

    page.get_by_role("button", name="Write this course").click()
    page.wait_for_url(COURSE_PAGE, timeout=60_000)

    course = Course.objects.get()
    assert course.status == Course.Status.READY
    assert list(Week.objects.filter(course=course).values_list("title", flat=True))[::4] == [
        "Aqueducts in the hills",
        "Aqueducts today",
    ]
    assert OutlineRevision.objects.filter(course=course).count() == 4  # written, renamed, added, renamed
    expect(page.get_by_text("Aqueducts in the hills").first).to_be_visible()
    page.get_by_role("link", name="Start learning").click()
    expect(page.locator(".prose").first).to_be_visible()
    screenshot(page, "outline_review_read")
