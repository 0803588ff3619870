"""The main flows with the keyboard alone: Tab to a control, then Enter, Space or typing, never a click.

Each control is named by its role to find out when focus has reached it; only the keyboard moves focus there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from courses.models import Course
from delivery.learning.views import LESSON_MARKED_DONE
from delivery.models import LessonCompletion, QuizAttempt, Subscription
from tests.e2e.conftest import sign_in_as
from tests.factories import UserFactory, written_course

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MOST_TABS = 80  # more than any page here needs to reach its last control


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def tab_to(page: Page, control: Locator) -> None:
    """Press Tab until `control` has the focus; fail if it never does (it is not reachable by keyboard)."""
    for _ in range(MOST_TABS):
        page.keyboard.press("Tab")
        if control.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{control} is not reachable with Tab")


def test_a_visitor_asks_for_a_course_with_the_keyboard(page: Page, live_server: Any) -> None:
    page.goto(live_server.url)
    tab_to(page, page.get_by_role("textbox", name="What are you curious about?"))
    page.keyboard.type("Sourdough baking")
    tab_to(page, page.get_by_role("button", name="Write my course"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/courses/[0-9a-f-]{36}/(writing/)?$"), timeout=60_000)
    assert Course.objects.get().topic == "Sourdough baking"


def test_a_learner_reads_a_lesson_marks_it_done_and_takes_the_quiz_with_the_keyboard(
    page: Page, live_server: Any
) -> None:
    learner = UserFactory()
    course = written_course(weeks=2, lessons_per_week=1, review_state="approved")
    sign_in_as(page, live_server, learner)
    page.goto(f"{live_server.url}/courses/{course.id}/")

    tab_to(page, page.get_by_role("link", name="Start learning"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Lesson 1.1")).to_be_visible()
    tab_to(page, page.get_by_role("button", name="Mark as done", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text(LESSON_MARKED_DONE)
    assert LessonCompletion.objects.filter(user=learner).count() == 1

    page.goto(f"{live_server.url}/courses/{course.id}/weeks/1/quiz/")
    for number in range(1, 5):
        group = page.get_by_role("group", name=f"Week 1, question {number}?")
        tab_to(page, group.get_by_label("Right", exact=True))  # Tab enters a radio group on its first option
        page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name="Check my answers"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="You scored 4 out of 4")).to_be_visible()
    assert QuizAttempt.objects.get(user=learner).score == 4


def test_a_visitor_subscribes_by_email_with_the_keyboard(page: Page, live_server: Any) -> None:
    course = written_course(weeks=2, lessons_per_week=1, review_state="approved")
    page.goto(f"{live_server.url}/courses/{course.id}/")
    form = page.locator("form.subscribe-form")

    tab_to(page, form.get_by_label("Email"))
    page.keyboard.type("ada@example.com")
    tab_to(page, form.get_by_role("button", name="Subscribe"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert Subscription.objects.get().email == "ada@example.com"
