"""The tutor in a real browser, with a real Celery worker and the fake OpenAI server streaming at a human
pace: ask, watch the answer arrive word by word (polled from the site, or pushed by the real ASGI stream
server), reload and find it; and the same without JavaScript."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from courses.models import TutorMessage
from tests.compose_services import free_port, service_start
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


@pytest.fixture
def stream_server(settings: Any) -> Iterator[str]:
    """The stream server as compose.yaml runs it (uvicorn, school.asgi) on its own port, sharing the tests' Redis
    and secret key; the site names it to the page, and its CSP lets the page connect there."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "REDIS_URL": settings.REDIS_URL}
    server = service_start("live", port, env)
    try:
        origin = f"http://127.0.0.1:{port}"
        settings.TUTOR_STREAM_ORIGIN = origin
        settings.CONTENT_SECURITY_POLICY = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
        settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["connect-src"].append(origin)
        yield origin
    finally:
        server.terminate()
        server.wait(timeout=10)


def ask_and_watch_it_grow(page: Page, live_server: Any) -> dict[str, list[str]]:
    """Ask on a lesson's page, see the answer grow in steps until whole; the tutor's requests, by kind."""
    lesson = first_lesson(written_course(weeks=2, lessons_per_week=2))
    sign_in_as(page, live_server, UserFactory(email="ada@example.com"))
    page.goto(f"{live_server.url}/courses/{lesson.course_id}/lessons/{lesson.id}/")
    requests: dict[str, list[str]] = {"polls": [], "streams": []}
    page.on(
        "request", lambda request: "/tutor/live/" in request.url and requests["polls"].append(request.url)
    )
    page.on(
        "request", lambda request: "/tutor/stream/" in request.url and requests["streams"].append(request.url)
    )
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
    return requests


def test_a_learner_asks_watches_the_answer_stream_in_then_finds_it_after_a_reload(
    page: Page, live_server: Any, celery_worker: Any, fake_openai: FakeOpenAI
) -> None:
    requests = ask_and_watch_it_grow(page, live_server)
    assert requests["polls"]  # no stream server set up: the page polls
    assert not requests["streams"]

    page.reload()
    expect(page.get_by_text("Why does it matter?")).to_be_visible()
    expect(page.locator(".tutor-message .prose")).to_contain_text("word40")
    expect(page.get_by_text("Report this answer", exact=True)).to_be_visible()
    screenshot(page, "tutor-answered")


def test_with_the_stream_server_the_answer_is_pushed_and_the_page_sends_no_polls(
    page: Page, live_server: Any, celery_worker: Any, fake_openai: FakeOpenAI, stream_server: str
) -> None:
    requests = ask_and_watch_it_grow(page, live_server)
    assert len(requests["streams"]) == 1
    assert requests["streams"][0].startswith(stream_server)
    assert requests["polls"] == []


def test_when_the_stream_server_cannot_be_reached_the_page_polls_instead(
    page: Page, live_server: Any, celery_worker: Any, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.TUTOR_STREAM_ORIGIN = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    requests = ask_and_watch_it_grow(page, live_server)
    assert len(requests["streams"]) == 1
    assert requests["polls"]


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
