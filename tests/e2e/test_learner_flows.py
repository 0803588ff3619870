"""A learner in a real browser: ask for a course and watch it being written, study it, take a quiz, see
progress on "My learning", download the PDF. Screenshots of each main page land in tests/e2e/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from courses.generation import pipeline
from courses.models import Course, Lesson, PartStatus, Quiz
from tests.e2e.conftest import browser_page, screenshot, sign_in_as
from tests.factories import UserFactory, first_lesson, written_course

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COURSE_PAGE = re.compile(r"/courses/[0-9a-f-]{36}/$")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def unwritten_course(weeks: int = 2, lessons_per_week: int = 2) -> Course:
    """A course whose outline is stored and whose parts all wait to be written."""
    course = written_course(
        weeks=weeks, lessons_per_week=lessons_per_week, status=Course.Status.WRITING, ready_at=None
    )
    Lesson.objects.filter(course=course).update(status=PartStatus.PENDING, body_html="")
    Quiz.objects.filter(course=course).update(status=PartStatus.PENDING)
    return course


def test_a_visitor_asks_for_a_course_and_is_taken_to_it_once_written(
    page: Page, live_server: Any, celery_worker: Any
) -> None:
    page.goto(live_server.url)
    expect(page.get_by_role("heading", name="What are you curious about?")).to_be_visible()
    screenshot(page, "home")
    page.get_by_role("textbox", name="What are you curious about?").fill("Sourdough baking")
    page.get_by_label("Length").select_option("4")
    page.get_by_label(
        "Show me the outline first"
    ).uncheck()  # straight through (test_outline_review: with it)
    page.get_by_role("button", name="Write my course").click()
    page.wait_for_url(COURSE_PAGE, timeout=60_000)  # via the "being written" page, once the bar is full
    course = Course.objects.get()
    assert course.status == Course.Status.READY
    assert course.weeks_count == 4
    expect(page.get_by_role("link", name="Start learning")).to_be_visible()
    expect(page.get_by_text("Generated offline").first).to_be_visible()


def test_the_progress_bar_fills_up_live_as_parts_are_written(page: Page, live_server: Any) -> None:
    course = unwritten_course(weeks=2, lessons_per_week=2)  # 4 lessons + 2 quizzes
    page.goto(f"{live_server.url}/courses/{course.id}/writing/")
    bar = page.locator("#writing-progress progress")
    expect(bar).to_have_attribute("value", "0")
    lessons = list(Lesson.objects.filter(course=course).order_by("id"))
    for written, lesson in enumerate(lessons, start=1):
        Lesson.objects.filter(id=lesson.id).update(status=PartStatus.WRITTEN)
        expect(bar).to_have_attribute("value", str(100 * written // 6))
        if written == 2:
            expect(page.get_by_role("status")).to_contain_text("2 of 6 parts written")
            screenshot(page, "writing")
    Quiz.objects.filter(course=course).update(status=PartStatus.WRITTEN)
    pipeline.course_finish(course_id=course.id)
    expect(bar).to_have_attribute("value", "100")
    page.wait_for_url(COURSE_PAGE)
    assert page.url.endswith(f"/courses/{course.id}/")


def test_a_failed_part_shows_up_as_missing_and_its_requester_retries_it(page: Page, live_server: Any) -> None:
    requester = UserFactory()
    course = unwritten_course(weeks=1, lessons_per_week=2)
    Course.objects.filter(id=course.id).update(requested_by=requester)
    sign_in_as(page, live_server, requester)
    page.goto(f"{live_server.url}/courses/{course.id}/writing/")
    expect(page.get_by_role("link", name="My learning")).to_be_visible()
    lesson = Lesson.objects.filter(course=course).first()
    assert lesson is not None
    Lesson.objects.filter(id=lesson.id).update(
        status=PartStatus.FAILED, failure_reason="The writer kept failing."
    )
    expect(page.get_by_role("heading", name="Missing parts")).to_be_visible()
    expect(page.get_by_text("The writer kept failing.")).to_be_visible()
    screenshot(page, "writing_missing_part")
    page.get_by_role("button", name=f"Retry {lesson.title}").click()
    expect(page.get_by_text("Trying again")).to_be_visible()
    lesson.refresh_from_db()
    assert lesson.status != PartStatus.FAILED


def test_without_javascript_the_writing_page_refreshes_itself_until_the_course_is_ready(
    browser: Browser, live_server: Any
) -> None:
    course = unwritten_course(weeks=1, lessons_per_week=1)
    with browser_page(browser, java_script_enabled=False) as page:
        page.goto(f"{live_server.url}/courses/{course.id}/writing/")
        expect(page.locator("progress").first).to_have_attribute("value", "0")
        Lesson.objects.filter(course=course).update(status=PartStatus.WRITTEN)
        Quiz.objects.filter(course=course).update(status=PartStatus.WRITTEN)
        pipeline.course_finish(course_id=course.id)
        page.wait_for_url(COURSE_PAGE, timeout=15_000)


def sign_in_from(page: Page, live_server: Any, email: str) -> None:
    page.get_by_label("Your email address").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    screenshot(page, "sign_in_sent")
    link = re.search(r"https?://[^/\s]+(/accounts/sign-in/\S+/)", str(mail.outbox[-1].body))
    assert link
    page.goto(live_server.url + link.group(1))
    page.get_by_role("button", name="Sign in").click()


def test_a_learner_studies_a_course_takes_a_quiz_sees_progress_and_downloads_it(
    page: Page, live_server: Any, celery_worker: Any
) -> None:
    course = written_course(
        weeks=3, lessons_per_week=2, title="Birdsong for beginners", review_state="approved"
    )
    page.goto(f"{live_server.url}/courses/{course.id}/")
    screenshot(page, "course")
    page.get_by_role("link", name="Start learning").click()
    expect(page.get_by_role("heading", name="Lesson 1.1")).to_be_visible()
    screenshot(page, "lesson")

    page.get_by_role("button", name="Mark as done", exact=True).click()  # kept in the session until sign-in
    expect(page.get_by_text("You marked this lesson as done.")).to_be_visible()
    page.locator(".lesson-done").get_by_role("link", name="Sign in").click()
    screenshot(page, "sign_in")
    sign_in_from(page, live_server, "robin@example.com")
    expect(page.get_by_role("heading", name="Lesson 1.1")).to_be_visible()  # back where they were
    expect(page.get_by_text("You marked this lesson as done.")).to_be_visible()  # carried into the account
    page.get_by_role("link", name=re.compile("Next → Lesson 1.2")).click()
    page.get_by_role("button", name="Mark as done and continue to the quiz").click()
    expect(page.get_by_role("heading", name="Week 1 quiz")).to_be_visible()  # the quiz between the weeks
    for question in range(4):
        answer = "Right" if question < 3 else "Wrong"
        page.get_by_role("group", name=f"Week 1, question {question + 1}?").get_by_label(
            answer, exact=True
        ).check()
    screenshot(page, "quiz")
    page.get_by_role("button", name="Check my answers").click()
    expect(page.get_by_role("heading", name="You scored 3 out of 4")).to_be_visible()
    expect(page.get_by_text("Because the lesson said so.").first).to_be_visible()
    screenshot(page, "quiz_results")

    page.get_by_role("link", name="My learning").first.click()
    card = page.locator(".learning-card")
    expect(card).to_contain_text("Birdsong for beginners")
    expect(card).to_contain_text("2 of 6 (33%)")
    expect(card).to_contain_text("Week 1 of 3")
    expect(card).to_contain_text("1 taken, 75% on average")
    screenshot(page, "my_learning")

    page.goto(f"{live_server.url}/courses/{course.id}/")
    expect(page.get_by_text("2 of 6")).to_be_visible()
    expect(page.get_by_role("link", name="Continue where you left off")).to_be_visible()
    screenshot(page, "course_in_progress")
    with page.expect_download(timeout=60_000) as pdf:
        page.get_by_role("link", name="Download PDF").click()
    assert pdf.value.suggested_filename == "birdsong-for-beginners.pdf"
    assert Path(pdf.value.path()).read_bytes()[:5] == b"%PDF-"
    screenshot(page, "pdf_ready")
    with page.expect_download() as markdown:
        page.goto(f"{live_server.url}/courses/{course.id}/")
        page.get_by_role("link", name="Download Markdown").click()
    assert Path(markdown.value.path()).read_text().startswith("# Birdsong for beginners")


def test_pages_read_well_on_a_phone_and_the_keyboard_reaches_the_content(
    phone: Page, live_server: Any
) -> None:
    course = written_course(weeks=2, lessons_per_week=2, review_state="approved", featured=True)
    phone.goto(live_server.url)
    screenshot(phone, "home_phone")
    lesson = first_lesson(course)
    phone.goto(f"{live_server.url}/courses/{course.id}/lessons/{lesson.id}/")
    phone.keyboard.press("Tab")
    expect(phone.get_by_role("link", name="Skip to content")).to_be_focused()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows sideways
    screenshot(phone, "lesson_phone")
    phone.goto(f"{live_server.url}/courses/{course.id}/")
    screenshot(phone, "course_phone")


def _luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_the_keyboard_focus_ring_stands_out_from_the_page(page: Page, live_server: Any) -> None:
    """WCAG 1.4.11: what shows where the keyboard is needs 3:1 against what surrounds it."""
    page.goto(live_server.url)
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand link, on the page's own background

    ring, around = page.evaluate(
        "[getComputedStyle(document.activeElement).outlineColor, getComputedStyle(document.body).backgroundColor]"
    )
    lighter, darker = sorted((_luminance(ring), _luminance(around)), reverse=True)
    assert (lighter + 0.05) / (darker + 0.05) >= 3


def test_on_a_phone_a_quiz_question_sits_inside_its_box_and_long_answers_wrap_beside_their_button(
    phone: Page, live_server: Any
) -> None:
    course = written_course(weeks=2, lessons_per_week=1, review_state="approved")
    quiz = Quiz.objects.get(course=course, week__number=1)
    quiz.questions[0]["question"] = (
        "Which of these sentences, each of them long enough to wrap, is true? " * 2
    )
    quiz.questions[0]["options"][0] = (
        "An answer long enough to need two or three lines on a narrow phone screen"
    )
    quiz.save(update_fields=["questions"])

    phone.goto(f"{live_server.url}/courses/{course.id}/weeks/1/quiz/")

    fieldset, legend = (phone.locator(f".question >> nth=0 >> {tag}").first for tag in ("fieldset", "legend"))
    assert legend.bounding_box()["y"] - fieldset.bounding_box()["y"] >= 8  # not straddling the top border
    radio_right = phone.evaluate("document.querySelector('.option input').getBoundingClientRect().right")
    lines = phone.evaluate(
        "(() => { const text = document.createRange();"
        " text.selectNodeContents(document.querySelector('.option'));"
        " text.setStartAfter(document.querySelector('.option input'));"
        " return [...text.getClientRects()].filter(r => r.width > 1).map(r => r.left); })()"
    )
    assert len(lines) >= 2  # the answer wraps...
    assert min(lines) > radio_right  # ...and every line of it starts after its button
    screenshot(phone, "quiz_phone")
