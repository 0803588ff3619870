"""The tutor in a real browser, with a real Celery worker and the fake OpenAI server streaming at a human
pace: ask, watch the answer arrive word by word, reload and find it; and the same without JavaScript."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from courses.models import TutorMessage
from tests.e2e.conftest import browser_page, screenshot, sign_in_as
from tests.factories import UserFactory, first_lesson, written_course
from tests.fakes.openai_server import FakeOpenAI

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WATCH_GROWING = """() => {
  window.seenWordCounts = [];
  new MutationObserver(() => {
    const box = document.querySelector(".tutor-message [data-live-text]");
    if (box) { window.seenWordCounts.push(box.textContent.split(/\\s+/).filter(Boolean).length); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
ANSWER = " ".join(f"word{n}" for n in range(1, 41)) + " (see “Why it matters”)."


@pytest.fixture
def fake_openai(settings: Any) -> Iterator[FakeOpenAI]:
    """The fake streams the answer: its first word after 0.3 s, then 8 words a second (about 5 s in all)."""
    with FakeOpenAI() as fake:
        fake.first_token_latency = 0.3
        fake.tokens_per_second = 8
        fake.override(lambda body: ANSWER if body.get("stream") else None)
        settings.OPENAI_API_KEY = "test"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_MODEL = "fake-model"
        settings.LLM_TIMEOUT_SECONDS = 10
        yield fake


def test_a_learner_asks_watches_the_answer_stream_in_then_finds_it_after_a_reload(
    page: Page, live_server: Any, celery_worker: Any, fake_openai: FakeOpenAI
) -> None:
    lesson = first_lesson(written_course(weeks=2, lessons_per_week=2))
    sign_in_as(page, live_server, UserFactory(email="ada@example.com"))
    page.goto(f"{live_server.url}/courses/{lesson.course_id}/lessons/{lesson.id}/")
    # Note every word count the growing answer shows, as the reader would see it change.
    page.evaluate(WATCH_GROWING)
    page.get_by_label("Your question").fill("Why does it matter?")
    page.get_by_role("button", name="Ask").click()

    expect(page.locator(".tutor-message [data-live-text]")).to_contain_text("word1", timeout=15_000)
    screenshot(page, "tutor-streaming")

    answer = page.locator(".tutor-message .prose")
    expect(answer).to_contain_text("word40", timeout=20_000)
    expect(answer).to_contain_text("Why it matters")
    counts = page.evaluate("window.seenWordCounts")
    partial = [count for count in counts if 0 < count < 41]
    assert len(set(partial)) >= 2, counts  # the answer grew on screen, in steps, before it was whole
    assert TutorMessage.objects.get().status == TutorMessage.Status.DONE

    page.reload()
    expect(page.get_by_text("Why does it matter?")).to_be_visible()
    expect(page.locator(".tutor-message .prose")).to_contain_text("word40")
    expect(page.get_by_text("Report this answer", exact=True)).to_be_visible()
    screenshot(page, "tutor-answered")


def test_without_javascript_the_form_posts_and_a_refresh_shows_the_answer(
    browser: Browser, live_server: Any, celery_worker: Any, fake_openai: FakeOpenAI
) -> None:
    lesson = first_lesson(written_course(weeks=2, lessons_per_week=2))
    with browser_page(browser, java_script_enabled=False) as page:
        sign_in_as(page, live_server, UserFactory(email="grace@example.com"))
        page.goto(f"{live_server.url}/courses/{lesson.course_id}/lessons/{lesson.id}/")
        page.get_by_label("Your question").fill("What is the exercise?")
        page.get_by_role("button", name="Ask").click()
        expect(page.get_by_text("What is the exercise?")).to_be_visible()
        # Each page's Refresh link is a new address (a link to the same address and fragment would only scroll).
        deadline = time.monotonic() + 45
        while not page.locator(".tutor-message .prose").count() and time.monotonic() < deadline:
            time.sleep(0.5)
            page.get_by_role("link", name="Refresh").click()
        expect(page.locator(".tutor-message .prose")).to_contain_text("word40")
