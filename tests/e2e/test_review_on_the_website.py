"""Moderation as learners and requesters meet it in a real browser: report a lesson quoting the passage they
selected, fix a lesson of one's own course from its page, and find a held course replaced by the notice.
Screenshots land in tests/e2e/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from courses import visibility
from courses.models import Course, LessonReport
from courses.moderation import review, screening
from tests.e2e.conftest import screenshot, sign_in_as
from tests.factories import UserFactory, first_lesson, moderator, written_course

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Long enough to pass the screening every requester's edit goes through.
NEW_BODY = "## Slack water\n\n" + "Between the tides the water rests for a few quiet minutes. " * 16


def test_a_reader_reports_a_lesson_quoting_the_passage_they_selected(page: Page, live_server: Any) -> None:
    course = written_course(weeks=2, lessons_per_week=2, review_state=Course.Review.APPROVED)
    lesson = first_lesson(course)
    page.goto(f"{live_server.url}/courses/{course.id}/lessons/{lesson.id}/")
    report = page.get_by_role("link", name="Report a problem with this lesson")
    expect(report).to_be_visible()
    expect(page.get_by_role("link", name="Edit this lesson")).to_have_count(0)  # readers cannot edit
    screenshot(page, "lesson_with_report_link")

    page.evaluate(
        """() => {
            const paragraph = document.querySelector(".lesson .prose p");
            const range = document.createRange();
            range.selectNodeContents(paragraph);
            window.getSelection().removeAllRanges();
            window.getSelection().addRange(range);
        }"""
    )
    report.click()
    passage = page.get_by_label("The passage (optional)")
    expect(passage).to_have_value("A short paragraph that explains the idea with an example.")
    page.get_by_label("Something in it is wrong").check()
    screenshot(page, "report_form")
    page.get_by_role("button", name="Send the report").click()
    expect(page.get_by_text("A moderator will look at this lesson.")).to_be_visible()
    page.get_by_role("link", name="Back to the lesson").click()
    expect(page.get_by_role("heading", name=lesson.title)).to_be_visible()

    saved = LessonReport.objects.get()
    assert (saved.lesson_id, saved.reason) == (lesson.id, LessonReport.Reason.WRONG)
    assert saved.quoted_text == "A short paragraph that explains the idea with an example."


def test_the_requester_fixes_a_lesson_from_its_page_and_reads_the_new_text(
    page: Page, live_server: Any
) -> None:
    requester = UserFactory()
    course = written_course(weeks=2, lessons_per_week=2, requested_by=requester)
    lesson = first_lesson(course)
    sign_in_as(page, live_server, requester)
    page.goto(f"{live_server.url}/courses/{course.id}/lessons/{lesson.id}/")
    page.get_by_text("Write it again…").click()
    expect(page.get_by_role("button", name="Regenerate this lesson")).to_be_visible()
    screenshot(page, "lesson_requester_tools")

    page.get_by_role("link", name="Edit this lesson").click()
    page.get_by_label("Title").fill("Slack water")
    page.locator("#id_body").fill(NEW_BODY)
    expect(page.locator(".markdown-preview h2").first).to_have_text("Slack water")  # the live preview
    expect(page.locator(".markdown-preview h2")).to_have_count(1)
    screenshot(page, "lesson_editor_requester")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", name="Slack water", level=1)).to_be_visible()  # back on the lesson
    expect(page.locator(".prose")).to_contain_text("the water rests for a few quiet minutes")
    expect(page.get_by_role("status")).to_contain_text("Saved")
    page.get_by_role("link", name=course.title).first.click()
    expect(page.get_by_role("link", name="Slack water")).to_be_visible()  # the course page's outline too


def test_the_requester_reads_the_moderators_word_then_a_held_course_shows_only_the_notice(
    page: Page, live_server: Any
) -> None:
    requester = UserFactory()
    course = written_course(weeks=2, lessons_per_week=2, requested_by=requester)
    lesson = first_lesson(course)
    review.course_request_changes(course=course, actor=moderator(), reason="Week 2 needs an example.")
    sign_in_as(page, live_server, requester)
    page.goto(f"{live_server.url}/courses/{course.id}/")
    expect(page.locator(".notice.review")).to_have_text(
        f"{visibility.NEEDS_CHANGES_MESSAGE} Reason: Week 2 needs an example."
    )
    screenshot(page, "course_needs_changes")
    page.goto(f"{live_server.url}/courses/{course.id}/lessons/{lesson.id}/")
    expect(page.get_by_role("heading", name=lesson.title)).to_be_visible()

    finding = screening.Finding("chatter", "Model chatter: “As an AI”.", "As an AI, I think…")
    review.course_hold(part=lesson, findings=[finding])
    page.reload()

    expect(page.locator(".notice.review")).to_have_text(visibility.HELD_MESSAGE)
    expect(page.locator(".prose")).to_have_count(0)
    screenshot(page, "held_course")
    page.get_by_role("link", name="My learning").first.click()
    expect(page.locator("main")).to_contain_text("Being reviewed")
