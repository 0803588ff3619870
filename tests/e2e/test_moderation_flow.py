"""A moderator clears the queue in a real browser: sees why a course waits, approves it, edits a lesson with
the live preview, and finds both steps in the audit log. Debian's Chromium, never a downloaded browser.

The browser comes from tests/e2e/conftest.py: one Playwright session for every browser test.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from courses.models import AuditEntry, Course, Lesson, PartRevision
from courses.moderation import review, screening
from courses.quality import pictures
from delivery.models import LessonCompletion
from tests.e2e.conftest import browser_page, screenshot
from tests.e2e.test_accessibility import blocking_violations
from tests.factories import UserFactory, moderator, written_course
from tests.fakes.libraries_server import FakeLibraries, picture

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-moderator-password-for-tests"


@pytest.fixture
def admin_page(browser: Browser) -> Iterator[Page]:
    with browser_page(browser, viewport={"width": 1400, "height": 1000}) as page:
        yield page


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("Welcome")


def test_a_moderator_approves_a_course_and_edits_a_lesson(live_server: Any, admin_page: Page) -> None:
    reviewer = moderator("reviewer@example.org")
    reviewer.set_password(PASSWORD)
    reviewer.save(update_fields=["password"])
    course = written_course(weeks=2, lessons_per_week=2, requested_by=UserFactory(email="asker@example.org"))
    lesson = Lesson.objects.get(course=course, week__number=1, number=1)
    learner = UserFactory()
    LessonCompletion.objects.create(user=learner, lesson=lesson, course=course)
    finding = screening.Finding("chatter", "Model chatter: “As an AI”.", "As an AI, I think…")
    review.course_hold(part=lesson, findings=[finding])
    page, base = admin_page, live_server.url

    sign_in(page, base, reviewer.email)
    page.goto(f"{base}/admin/courses/course/")
    row = page.locator("#result_list tbody tr", has_text=course.title)
    expect(row).to_contain_text("Model chatter")
    expect(row).to_contain_text("asker@example.org")
    screenshot(page, "moderation_queue")

    # Fix the lesson first: the content page, then its editor with the live preview.
    row.get_by_role("link", name="read & edit").click()
    page.locator(f"#lesson-{lesson.pk}").get_by_role("link", name="Edit lesson").click()
    body = page.locator("#id_body")
    body.fill("## Aqueducts, corrected\n\nWater ran downhill along a **gentle slope**.\n")
    preview = page.locator(".markdown-preview")
    expect(preview.locator("h2").first).to_have_text("Aqueducts, corrected")  # rendered by the server
    expect(preview.locator("h2")).to_have_count(1)
    expect(preview.locator("strong")).to_have_text("gentle slope")
    page.fill("#id_note", "Removed the model's chatter")
    screenshot(page, "moderation_lesson_editor")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messagelist")).to_contain_text("Saved")

    # Then approve it with one click from the queue.
    page.goto(f"{base}/admin/courses/course/")
    page.locator("#result_list tbody tr", has_text=course.title).get_by_role("button", name="Approve").click()
    expect(page.locator(".messagelist")).to_contain_text("approved")
    expect(page.locator("#result_list tbody tr", has_text=course.title)).to_have_count(0)  # no longer waiting

    page.goto(f"{base}/admin/courses/course/{course.pk}/change/")
    expect(page.locator("body")).to_contain_text("Removed the model's chatter")
    screenshot(page, "moderation_audit_log")

    course.refresh_from_db()
    lesson.refresh_from_db()
    assert course.review_state == Course.Review.APPROVED
    assert not course.held_for_review
    assert lesson.body.startswith("## Aqueducts, corrected")
    assert PartRevision.objects.get(lesson=lesson).author == reviewer
    assert LessonCompletion.objects.filter(user=learner, lesson=lesson).exists()
    actions = list(
        AuditEntry.objects.filter(course=course).order_by("id").values_list("action", "actor_label")
    )
    assert actions == [
        (AuditEntry.Action.HOLD, review.SYSTEM_ACTOR),
        (AuditEntry.Action.EDIT, reviewer.email),
        (AuditEntry.Action.APPROVE, reviewer.email),
    ]


def test_the_queue_and_the_records_lists_fit_a_1280_pixel_screen(live_server: Any, browser: Browser) -> None:
    reviewer = moderator("reviewer@example.org")
    reviewer.set_password(PASSWORD)
    reviewer.save(update_fields=["password"])
    title = "The long history of Roman aqueducts, from Appius Claudius to Frontinus and beyond"
    course = written_course(
        weeks=1, lessons_per_week=2, title=title, requested_by=UserFactory(email="asker@example.org")
    )
    lesson = course.lessons.first()
    assert lesson is not None
    Lesson.objects.filter(pk=lesson.pk).update(title=title + ": the first lesson, with its key ideas")
    finding = screening.Finding("chatter", "Model chatter: “As an AI”.", "As an AI, I think…")
    review.course_hold(part=lesson, findings=[finding])
    review.lesson_report(lesson=lesson, reason="wrong", quoted_text="Rome fell in 1990")

    with browser_page(browser, viewport={"width": 1280, "height": 900}) as page:
        sign_in(page, live_server.url, reviewer.email)
        for path in ["course", "lessonreport", "auditentry", "contentflag"]:
            page.goto(f"{live_server.url}/admin/courses/{path}/")
            expect(page.locator("#result_list tbody tr").first).to_be_visible()
            # Every column, the last one too, shows without scrolling the table sideways.
            assert page.locator(".results").evaluate("e => e.scrollWidth <= e.clientWidth"), path
            expect(page.locator("#result_list thead th").last).to_be_in_viewport()


def _picture_png(colour: tuple[int, int, int]) -> bytes:
    """A stand-in for a Commons thumbnail (the browser never leaves loopback)."""
    image, out = Image.new("RGB", (320, 200), colour), io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_moderator_replaces_a_lessons_picture_without_javascript(
    live_server: Any, browser: Browser, settings: Any
) -> None:
    reviewer = moderator("reviewer@example.org")
    reviewer.set_password(PASSWORD)
    reviewer.save(update_fields=["password"])
    course = written_course(weeks=1, lessons_per_week=2, review_state=Course.Review.APPROVED)
    lesson = Lesson.objects.get(course=course, week__number=1, number=1)
    libraries = FakeLibraries().start()
    libraries.settings_for(settings)
    settings.QUALITY_LOOKUPS, settings.OPENAI_API_KEY = True, "test"  # lookups on; no LLM is called
    libraries.pictures += [picture("Pont du Gard.jpg", "CC BY-SA 4.0", artist="Jane Doe")]
    libraries.searches["segovia"] = [
        picture("Segovia aqueduct.jpg", "CC BY 4.0", artist="Ann Smith"),
        picture("Aqueduct poster.jpg", "Fair use"),
        picture("Segovia at night.jpg", "CC0", artist="Luis Pérez"),
    ]
    pictures.course_pictures_find(course_id=course.pk)
    base = live_server.url
    try:
        with browser_page(
            browser, viewport={"width": 1280, "height": 900}, java_script_enabled=False
        ) as page:
            page.route(
                "https://upload.wikimedia.org/**",
                lambda route: route.fulfill(
                    content_type="image/png",
                    body=_picture_png((90, 140, 200) if "Segovia" in route.request.url else (200, 150, 90)),
                ),
            )
            sign_in(page, base, reviewer.email)
            page.goto(f"{base}{reverse('admin:courses_lesson_edit', args=[lesson.pk])}")
            panel = page.locator("#picture")
            expect(panel).to_contain_text("Shown now: Pont du Gard.jpg by Jane Doe, CC BY-SA 4.0")

            panel.get_by_label("Search Wikimedia Commons for").fill("Segovia aqueduct")
            panel.get_by_role("button", name="Find another picture").click()
            expect(panel.get_by_role("button", name="Use this picture")).to_have_count(2)  # not the poster
            screenshot(page, "admin_lesson_picture_search")
            panel.get_by_role("listitem").filter(has_text="Segovia at night.jpg").get_by_role(
                "button", name="Use this picture"
            ).click()

            expect(page.locator(".messagelist")).to_contain_text(
                "The lesson now shows “Segovia at night.jpg” (CC0)."
            )
            expect(page.locator("#picture")).to_contain_text(
                "Shown now: Segovia at night.jpg by Luis Pérez, CC0"
            )
            page.goto(f"{base}/courses/{course.pk}/lessons/{lesson.pk}/")
            figure = page.locator("figure.lesson-picture")
            expect(figure).to_contain_text("Segovia at night.jpg by Luis Pérez, CC0, via Wikimedia Commons")
        with browser_page(browser, viewport={"width": 1280, "height": 900}) as page:
            page.route(
                "https://upload.wikimedia.org/**",
                lambda route: route.fulfill(content_type="image/png", body=_picture_png((90, 140, 200))),
            )
            sign_in(page, base, reviewer.email)
            page.goto(f"{base}/courses/{course.pk}/lessons/{lesson.pk}/")
            assert (
                page.locator("figure.lesson-picture img").evaluate("img => img.naturalWidth") == 320
            )  # CSP lets it load
            page.goto(f"{base}{reverse('admin:courses_lesson_edit', args=[lesson.pk])}?picture_query=Segovia")
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                page.wait_for_timeout(300)  # the admin's colour transitions
                assert blocking_violations(page) == [], scheme
    finally:
        libraries.stop()
