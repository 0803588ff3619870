"""The learner's journey without seams, in a real browser at 1280×800 and 390×844: nothing lost at sign-in,
email subscriptions visible on the site. Screenshots land in tests/e2e/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from courses.models import Course, Lesson, Quiz
from courses.visibility import REQUESTED_SESSION_KEY
from delivery.email import links
from delivery.learning.progress import lesson_mark_done
from delivery.models import QuizAttempt
from tests.e2e.conftest import browser_page, screenshot, sign_in_as
from tests.factories import CourseFactory, SubscriptionFactory, UserFactory, first_lesson, written_course

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(params=["laptop", "phone"])
def screen(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, Page]]:
    options: dict[str, Any] = {"viewport": LAPTOP}
    if request.param == "phone":
        options = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
    with browser_page(browser, **options) as page:
        yield request.param, page


def answer_quiz(page: Page, right: int, questions: int = 4) -> None:
    for question in range(questions):
        group = page.get_by_role("group", name=f"Week 1, question {question + 1}?")
        group.get_by_label("Right" if question < right else "Wrong", exact=True).check()
    page.get_by_role("button", name="Check my answers").click()


def sign_in_from_page(page: Page, live_server: Any, email: str) -> None:
    page.get_by_label("Your email address").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    link = re.search(r"https?://[^/\s]+(/accounts/sign-in/\S+/)", str(mail.outbox[-1].body))
    assert link
    page.goto(live_server.url + link.group(1))
    page.get_by_role("button", name="Sign in").click()


def test_a_visitors_lessons_quiz_and_requested_course_are_all_there_after_signing_in(
    screen: tuple[str, Page], live_server: Any
) -> None:
    name, page = screen
    course = written_course(weeks=2, lessons_per_week=2, title="Birdsong", review_state="approved")
    asked = CourseFactory(topic="Sourdough baking", requested_by=None)
    page.goto(f"{live_server.url}/courses/{course.id}/lessons/{first_lesson(course).id}/")
    page.get_by_role("button", name="Mark as done", exact=True).click()
    page.goto(f"{live_server.url}/courses/{course.id}/weeks/1/quiz/")
    answer_quiz(page, right=3)
    expect(page.get_by_role("heading", name="You scored 3 out of 4")).to_be_visible()
    # The course asked for anonymously: remembered in the session, as the request view does.
    session_cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=session_cookie["value"])
    session[REQUESTED_SESSION_KEY] = [str(asked.id), *session.get(REQUESTED_SESSION_KEY, [])]
    session.save()

    page.locator("#results").get_by_role("link", name="Sign in").click()
    sign_in_from_page(page, live_server, f"robin-{name}@example.com")

    expect(page.get_by_role("heading", name="You scored 3 out of 4")).to_be_visible()  # not a blank quiz
    expect(page.get_by_text("Your attempt is saved.")).to_be_visible()
    page.goto(f"{live_server.url}/learning/")
    expect(page.locator(".learning-card")).to_contain_text("1 of 4 (25%)")
    expect(page.locator(".learning-card")).to_contain_text("1 taken, 75% on average")
    expect(page.locator(".requested-list")).to_contain_text("Sourdough baking")
    screenshot(page, f"journey_my_learning_after_sign_in_{name}")


def test_a_subscribed_learner_sees_their_emails_on_the_course_page_and_in_my_learning(
    screen: tuple[str, Page], live_server: Any
) -> None:
    name, page = screen
    learner = UserFactory(email=f"ada-{name}@example.com")
    course = written_course(weeks=3, lessons_per_week=1, title="The history of jazz", review_state="approved")
    other = written_course(weeks=3, lessons_per_week=1, title="Knots", review_state="approved")
    SubscriptionFactory(user=learner, course=course, timezone="Europe/Berlin", weekday=2)
    sign_in_as(page, live_server, learner)

    page.goto(f"{live_server.url}/courses/{course.id}/")
    expect(page.get_by_role("heading", name="You get this course by email")).to_be_visible()
    page.get_by_role("link", name=re.compile("Manage your emails")).click()
    expect(page.get_by_label("Timezone")).to_have_value("Europe/Berlin")

    page.goto(f"{live_server.url}/courses/{other.id}/")
    email = page.get_by_label("Email")
    expect(email).to_have_value(learner.email)
    timezone = page.get_by_label("Timezone")
    expect(timezone).not_to_have_value("")  # preselected from the browser
    timezone.fill("Berlin")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text(re.compile("Check your email|confirm", re.I)).first).to_be_visible()

    page.goto(f"{live_server.url}/learning/")
    subscriptions = page.locator(".subscription-list")
    expect(subscriptions).to_contain_text("Wednesdays at 08:00 (Europe/Berlin)")
    expect(subscriptions).to_contain_text("Knots")
    screenshot(page, f"journey_my_learning_subscriptions_{name}")
    assert Course.objects.get(id=other.id).subscriptions.get().timezone == "Europe/Berlin"


def test_the_course_page_takes_in_at_a_glance_with_continue_above_the_fold(
    screen: tuple[str, Page], live_server: Any
) -> None:
    name, page = screen
    learner = UserFactory()
    course = written_course(
        weeks=13, lessons_per_week=4, title="The history of jazz", review_state="approved"
    )
    for lesson in Lesson.objects.filter(course=course, week__number__lte=2):
        lesson_mark_done(user=learner, lesson=lesson)
    sign_in_as(page, live_server, learner)
    page.goto(f"{live_server.url}/courses/{course.id}/")

    cont = page.get_by_role("link", name="Continue where you left off")
    expect(cont).to_be_visible()
    box = cont.bounding_box()
    assert box is not None
    viewport = page.viewport_size
    assert viewport is not None
    assert box["y"] + box["height"] <= viewport["height"]  # above the fold
    expect(page.get_by_role("heading", name="What you will learn")).to_be_visible()
    expect(page.locator("details[open]")).to_have_count(1)
    expect(page.locator("#week-3 details")).to_have_attribute("open", "")
    expect(page.locator("#week-4").get_by_role("link", name="Lesson 4.1")).to_be_hidden()  # folded
    page.locator("#week-4 summary").click()
    expect(page.locator("#week-4").get_by_role("link", name="Lesson 4.1")).to_be_visible()
    page.locator("#week-4 summary").click()
    screenshot(page, f"journey_course_{name}")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < (3500 if name == "phone" else 2800), height  # was 4,312 px on a laptop, 5,650 on a phone

    cont.click()
    expect(page.get_by_role("heading", name="Lesson 3.1")).to_be_visible()
    aside = page.get_by_role("complementary")
    expect(aside.get_by_role("link", name="Lesson 3.2")).to_be_visible()
    expect(page.get_by_text(re.compile(r"\d+ min read"))).to_be_visible()
    screenshot(page, f"journey_lesson_{name}")


def test_from_a_weeks_last_lesson_through_its_quiz_to_the_next_week(
    screen: tuple[str, Page], live_server: Any
) -> None:
    name, page = screen
    course = written_course(weeks=2, lessons_per_week=2, title="Birdsong", review_state="approved")
    last = Lesson.objects.get(course=course, week__number=1, number=2)
    page.goto(f"{live_server.url}/courses/{course.id}/lessons/{last.id}/")
    page.get_by_role("button", name="Mark as done and continue to the quiz").click()
    expect(page.get_by_role("heading", name="Week 1 quiz")).to_be_visible()
    answer_quiz(page, right=3)
    expect(page.get_by_role("heading", name="You scored 3 out of 4")).to_be_visible()
    review = page.get_by_role("link", name=re.compile("Read again:"))
    expect(review).to_have_count(1)
    screenshot(page, f"journey_quiz_results_{name}")
    page.get_by_role("link", name=re.compile("Start week 2")).click()
    expect(page.get_by_role("heading", name="Lesson 2.1")).to_be_visible()


def test_dark_mode_follows_the_system_and_the_text_size_is_kept_across_pages(
    browser: Browser, live_server: Any
) -> None:
    course = written_course(weeks=2, lessons_per_week=2, title="Birdsong", review_state="approved")
    for name, options in (
        ("laptop", {"viewport": LAPTOP}),
        ("phone", {"viewport": PHONE, "is_mobile": True}),
    ):
        with browser_page(browser, color_scheme="dark", **options) as page:
            page.goto(f"{live_server.url}/courses/{course.id}/")
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(18, 18, 20)", background
            screenshot(page, f"journey_course_dark_{name}")
            page.goto(f"{live_server.url}/courses/{course.id}/lessons/{first_lesson(course).id}/")
            screenshot(page, f"journey_lesson_dark_{name}")

            size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.prose')).fontSize)")
            page.get_by_role("button", name="Larger text").click()
            larger = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.prose')).fontSize)")
            assert larger > size * 1.1
            page.goto(f"{live_server.url}/courses/{course.id}/")  # another page: the size is kept
            expect(page.locator("html")).to_have_attribute("data-text-size", "large")
            page.get_by_role("button", name="Smaller text").click()
            expect(page.locator("html")).not_to_have_attribute("data-text-size", "large")

    with browser_page(browser, viewport=LAPTOP, color_scheme="light") as page:
        page.goto(f"{live_server.url}/courses/{course.id}/")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(253, 253, 251)"


def test_without_javascript_there_is_no_text_size_control_and_the_text_keeps_its_size(
    browser: Browser, live_server: Any
) -> None:
    course = written_course(weeks=1, lessons_per_week=1, review_state="approved")
    with browser_page(browser, viewport=LAPTOP, java_script_enabled=False) as page:
        page.goto(f"{live_server.url}/courses/{course.id}/")
        expect(page.get_by_role("button", name="Larger text")).to_be_hidden()
        expect(page.get_by_role("link", name="Start learning")).to_be_visible()


def test_finding_a_course_by_part_of_its_name_filtering_and_asking_for_one_with_the_query_kept(
    screen: tuple[str, Page], live_server: Any
) -> None:
    name, page = screen
    written_course(weeks=4, lessons_per_week=1, title="Sourdough baking", review_state="approved")
    written_course(weeks=13, lessons_per_week=1, title="The history of jazz", review_state="approved")
    page.goto(f"{live_server.url}/courses/")
    page.get_by_role("searchbox", name="Search the courses").fill("baking bread")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="Sourdough baking")).to_be_visible()
    page.get_by_label("Length").select_option("long")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No course matches")).to_be_visible()
    screenshot(page, f"journey_search_{name}")
    page.get_by_role("link", name="Ask for one").click()
    expect(page.get_by_role("textbox", name="What are you curious about?")).to_have_value("baking bread")

    page.get_by_role("textbox", name="What are you curious about?").fill("history of jazz")
    page.get_by_role("button", name="Write my course").click()
    expect(page.get_by_role("heading", name="We may already have it")).to_be_visible()
    screenshot(page, f"journey_similar_{name}")
    page.get_by_role("link", name="The history of jazz").click()
    expect(page.get_by_role("heading", name="The history of jazz", level=1)).to_be_visible()


def test_an_email_quiz_takes_one_click_per_question(screen: tuple[str, Page], live_server: Any) -> None:
    name, page = screen
    course = written_course(weeks=1, lessons_per_week=2, title="Birdsong", review_state="approved")
    quiz = Quiz.objects.get(course=course)
    subscription = SubscriptionFactory(course=course)
    first = links.answer_urls(subscription_id=subscription.id, quiz_id=quiz.id, options_per_question=(4,))[0][
        1
    ]
    page.goto(live_server.url + first.removeprefix("https://semester.test"))  # the link clicked in the email
    expect(page.get_by_text("Your answer is recorded:")).to_contain_text("Wrong")
    expect(page.get_by_text("Not quite.")).to_be_visible()
    screenshot(page, f"journey_email_quiz_answer_{name}")
    for number in (2, 3, 4):
        expect(page.get_by_role("heading", name=f"Week 1, question {number}?")).to_be_visible()
        page.get_by_role("link", name="A. Right").click()  # one click: recorded, next question
    expect(page.get_by_role("heading", name="That was the last question")).to_be_visible()
    expect(page.get_by_text("got 3 right")).to_be_visible()
    assert QuizAttempt.objects.get().answers == {"0": 1, "1": 0, "2": 0, "3": 0}
