"""Browser tests: Debian's Chromium (never a downloaded browser) driven by Playwright against a live server.

Playwright's sync API runs an event loop in this thread, which trips Django's async-safety check although
every database call here is plain synchronous code; hence DJANGO_ALLOW_ASYNC_UNSAFE.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from tests.factories import signed_in_session
from tests.workers import running_worker

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-dev-shm-usage",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page(browser: Browser, **options: Any) -> Iterator[Page]:
    """A page in a fresh browser context (its own cookies), closed afterwards; `options` go to new_context."""
    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with browser_page(browser, viewport=DESKTOP, accept_downloads=True) as page:
        yield page


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    with browser_page(browser, viewport=PHONE, is_mobile=True, has_touch=True) as page:
        yield page


def sign_in_as(page: Page, live_server: Any, user: User) -> None:
    """Give the browser a signed-in session (the email-link flow itself is tested in test_learner_flows)."""
    page.context.add_cookies(
        [{"name": "sessionid", "value": signed_in_session(user), "url": live_server.url}]
    )


def screenshot(page: Page, name: str) -> None:
    """Keep a full-page picture of a main page for CI's artifacts (and for a person to look at)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def celery_worker() -> Iterator[Any]:
    """A real Celery worker in this process (threads) on the real Redis broker, so the browser watches
    a course being written the way it is in production, not all at once inside the request."""
    with running_worker(concurrency=4) as worker:
        yield worker
