"""Two-step requests in a real browser: the outline appears, its requester shapes it, confirms it, and reads
the course written from it. Screenshots land in tests/e2e/screenshots/."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from courses.models import Course, OutlineRevision, Week
from tests.e2e.conftest import screenshot
from tests.fakes.openai_server import FakeOpenAI

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


def test_the_requester_confirms_the_outline_and_reads_week_1_while_the_rest_is_being_written(
    page: Page, live_server: Any, celery_worker: Any, settings: Any
) -> None:
    # The fake LLM writes week 1's lessons at once and holds every other lesson and quiz until released,
    # so the course is surely still being written when week 1 is read.
    released = threading.Event()

    def hold_all_but_week_1(body: dict[str, Any]) -> None:
        prompt = json.dumps(body.get("messages", []))
        if (
            "Write lesson" in prompt and "of week 1 of this course" not in prompt
        ) or "Write the quiz" in prompt:
            released.wait(60)
        return None  # the fake's own reply

    with FakeOpenAI() as fake:
        fake.override(hold_all_but_week_1)
        settings.OPENAI_API_KEY = "test"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_MODEL = "fake-model"
        settings.GENERATION_PART_MAX_ATTEMPTS = 8  # its random replies now and then fail a part's checks
        try:
            page.goto(live_server.url)
            page.get_by_role("textbox", name="What are you curious about?").fill("Roman aqueducts")
            page.get_by_label("Length").select_option("4")
            page.get_by_role("button", name="Write my course").click()
            page.get_by_role("button", name="Write this course").click(timeout=30_000)

            expect(page.get_by_text("Week 1 is ready to read")).to_be_visible(timeout=60_000)  # polled in
            assert Course.objects.get().status == Course.Status.WRITING
            screenshot(page, "writing_week_1_ready")
            page.locator(".written-weeks a").first.click()
            expect(page.get_by_text("The rest of this course is still being written.")).to_be_visible()
            expect(page.locator(".prose")).to_be_visible()
            expect(page.get_by_role("button", name="Mark as done")).to_have_count(0)
            screenshot(page, "lesson_read_early")

            released.set()
            page.get_by_role("link", name="See how the rest is coming along").click()
            page.wait_for_url(COURSE_PAGE, timeout=90_000)  # the progress page moves on once it is ready
            assert Course.objects.get().status == Course.Status.READY
        finally:
            released.set()
