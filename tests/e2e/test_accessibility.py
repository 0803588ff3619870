"""Every main page, learner and admin, passes axe-core with no serious or critical violation, at 1280×800 and
390×844, in light and dark mode; each is photographed into tests/e2e/screenshots/ (CI keeps them as artifacts).

axe-core comes from the `axe-playwright-python` package (its bundled axe.min.js), injected into the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from accounts.services import magic_link_token_make
from courses.models import Course, Lesson, LLMCall, PartKind, Quiz, TutorConversation, TutorMessage
from courses.moderation import editing, review, screening
from courses.tutor import live
from delivery.email import tokens
from delivery.learning.views import LESSON_MARKED_DONE
from delivery.models import Subscription
from tests.e2e.conftest import SCREENSHOTS, browser_page, sign_in_as
from tests.factories import SubscriptionFactory, UserFactory, first_lesson, moderator, written_course

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")
BLOCKING = {"serious", "critical"}
# Moderate in axe's terms, but each was found on these pages once and fixed: keep them fixed.
ALSO_BLOCKING = {"heading-order", "region", "landmark-one-main", "page-has-heading-one"}
AXE = Axe()


@dataclass(frozen=True)
class Site:
    """The rows every page needs, made once per test: a published course, a private one, subscriptions…"""

    course: Course
    private: Course
    held: Course
    writing: Course
    learner: User
    requester: User
    admin: User
    subscription: Subscription
    pending: Subscription


def make_site() -> Site:
    learner = UserFactory(email="robin@example.com")
    requester = UserFactory(email="asker@example.com")
    admin = moderator("admin@example.com")
    User.objects.filter(pk=admin.pk).update(is_superuser=True)
    course = written_course(
        weeks=3, lessons_per_week=2, title="Birdsong for beginners", review_state="approved"
    )
    private = written_course(weeks=2, lessons_per_week=2, title="Knots for sailors", requested_by=requester)
    lesson = first_lesson(private)
    editing.part_edit(
        part=lesson, changes={"body": lesson.body + "\nOne more line.\n"}, actor=admin, note="A longer ending"
    )
    held = written_course(weeks=2, lessons_per_week=2, title="Tides and moons", requester_ip="203.0.113.9")
    lesson = first_lesson(held)
    finding = screening.Finding("chatter", "Model chatter: “As an AI”.", "As an AI, I think…")
    review.course_hold(part=lesson, findings=[finding])
    review.lesson_report(lesson=lesson, reason="wrong", quoted_text="The moon is cheese")
    for outcome in (LLMCall.Outcome.OK, LLMCall.Outcome.OK, LLMCall.Outcome.TIMEOUT):
        LLMCall.objects.create(
            course=held, stage="lesson", model="gpt-4o-mini", prompt_tokens=900, outcome=outcome
        )
    writing = written_course(weeks=1, lessons_per_week=2, title="Tides", status=Course.Status.WRITING)
    Course.objects.filter(pk=writing.pk).update(ready_at=None)
    tutor_conversation(learner, second_lesson(course))
    subscription = SubscriptionFactory(user=learner, course=course)
    pending = SubscriptionFactory(
        user=None, email="someone@example.com", course=course, status="pending", confirmed_at=None
    )
    return Site(course, private, held, writing, learner, requester, admin, subscription, pending)


def second_lesson(course: Course) -> Lesson:
    return Lesson.objects.filter(course=course).order_by("week__number", "number")[1]


def tutor_conversation(learner: User, lesson: Lesson) -> None:
    """The learner's questions to the tutor on `lesson`: one answered, one being written (its first words in)."""
    conversation = TutorConversation.objects.create(
        user=learner, course=lesson.course, week=lesson.week, lesson=lesson
    )
    TutorMessage.objects.create(
        conversation=conversation,
        question="Why do birds sing at dawn?",
        answer="Sound carries further in the **still, cool air** of the morning (see “Why it matters”).",
        status=TutorMessage.Status.DONE,
    )
    writing = TutorMessage.objects.create(
        conversation=conversation, question="And in winter?", status=TutorMessage.Status.WRITING
    )
    live.live_append(writing.id, "Fewer birds sing in winter, because ")


@dataclass(frozen=True)
class Visit:
    """A page: where it is, who looks at it, and what they do first (submit a form, say)."""

    url: Callable[[Site], str]
    who: str = "anonymous"  # or "learner", "requester", "admin"
    then: Callable[[Page], None] | None = None
    status: int = 200


def _lesson(site: Site) -> Lesson:
    return first_lesson(site.course)


def _answer_quiz(page: Page) -> None:
    if page.get_by_role("button", name="Check my answers").count():  # not on the second size: taken already
        for group in page.get_by_role("group", name=re.compile(r"question \d+")).all():
            group.get_by_label("Right", exact=True).check()
        page.get_by_role("button", name="Check my answers").click()
    expect(page.get_by_role("heading", name="You scored 4 out of 4")).to_be_visible()


def _submit_empty_request(page: Page) -> None:
    page.locator("form[action$='/courses/request/']").evaluate("form => form.noValidate = true")
    page.get_by_role("button", name="Write my course").click()


def _ask_for_a_sign_in_link(page: Page) -> None:
    page.get_by_label("Your email address").fill("robin@example.com")
    page.get_by_role("button", name="Email me a sign-in link").click()


def _unsubscribe(page: Page) -> None:
    Subscription.objects.update(status=Subscription.Status.ACTIVE)  # again, for the second screen size
    page.reload()
    page.get_by_role("button", name="Unsubscribe").click()


def _mark_done(page: Page) -> None:
    """Shows a flash message (in its live region); on the second screen size the lesson is done already."""
    done = page.get_by_role("button", name="Mark as not done")
    if done.count():
        done.click()
    page.get_by_role("button", name="Mark as done", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(LESSON_MARKED_DONE)


def _quiz(site: Site) -> Quiz:
    return Quiz.objects.get(course=site.course, week__number=1)


PAGES: dict[str, Visit] = {
    "home": Visit(lambda s: "/"),
    "request_with_errors": Visit(lambda s: "/", then=_submit_empty_request),
    "catalogue": Visit(lambda s: "/courses/?q=birdsong"),
    "writing": Visit(lambda s: f"/courses/{s.writing.id}/writing/"),
    "lesson_read_early": Visit(lambda s: f"/courses/{s.writing.id}/lessons/{first_lesson(s.writing).id}/"),
    "course": Visit(lambda s: f"/courses/{s.course.id}/"),
    "course_signed_in": Visit(lambda s: f"/courses/{s.course.id}/", who="learner"),
    "lesson": Visit(lambda s: f"/courses/{s.course.id}/lessons/{_lesson(s).id}/"),
    "lesson_signed_in": Visit(lambda s: f"/courses/{s.course.id}/lessons/{_lesson(s).id}/", who="learner"),
    "lesson_with_tutor": Visit(
        lambda s: f"/courses/{s.course.id}/lessons/{second_lesson(s.course).id}/", who="learner"
    ),
    "lesson_marked_done": Visit(
        lambda s: f"/courses/{s.course.id}/lessons/{_lesson(s).id}/", who="learner", then=_mark_done
    ),
    "quiz": Visit(lambda s: f"/courses/{s.course.id}/weeks/1/quiz/", who="learner"),
    "quiz_results": Visit(
        lambda s: f"/courses/{s.course.id}/weeks/1/quiz/", who="learner", then=_answer_quiz
    ),
    "my_learning": Visit(lambda s: "/learning/", who="learner"),
    "api_tokens": Visit(lambda s: "/accounts/api-tokens/", who="learner"),
    "sign_in": Visit(lambda s: "/accounts/sign-in/"),
    "sign_in_sent": Visit(lambda s: "/accounts/sign-in/", then=_ask_for_a_sign_in_link),
    "magic_link": Visit(lambda s: f"/accounts/sign-in/{magic_link_token_make(email='robin@example.com')}/"),
    "magic_link_invalid": Visit(lambda s: "/accounts/sign-in/not-a-token/", status=400),
    "subscribe": Visit(lambda s: f"/courses/{s.course.id}/subscribe/"),
    "subscribe_sent": Visit(lambda s: f"/courses/{s.course.id}/subscribe/sent/"),
    "subscription_confirm": Visit(
        lambda s: (
            "/subscriptions/confirm/"
            + tokens.confirm_token(subscription_id=s.pending.id, email=s.pending.email)
            + "/"
        )
    ),
    "subscription_manage": Visit(
        lambda s: f"/subscriptions/{tokens.manage_token(subscription_id=s.subscription.id, generation=0)}/"
    ),
    "unsubscribe": Visit(
        lambda s: f"/unsubscribe/{tokens.manage_token(subscription_id=s.subscription.id, generation=0)}/"
    ),
    "unsubscribed": Visit(
        lambda s: f"/unsubscribe/{tokens.manage_token(subscription_id=s.subscription.id, generation=0)}/",
        then=_unsubscribe,
    ),
    "email_quiz_answer": Visit(
        lambda s: (
            "/email/answer/"
            + tokens.answer_token(
                subscription_id=s.subscription.id, quiz_id=_quiz(s).id, question=0, choice=1
            )
            + "/"
        )
    ),
    "email_week_done": Visit(
        lambda s: (
            "/email/done/"
            + tokens.week_done_token(subscription_id=s.subscription.id, week_id=_quiz(s).week_id)
            + "/"
        )
    ),
    "email_link_invalid": Visit(lambda s: "/email/done/not-a-token/", status=404),
    "report_form": Visit(lambda s: f"/courses/{s.course.id}/lessons/{_lesson(s).id}/report/"),
    "lesson_edit_requester": Visit(
        lambda s: f"/courses/{s.private.id}/lessons/{first_lesson(s.private).id}/edit/", who="requester"
    ),
    "403": Visit(
        lambda s: f"/courses/{s.course.id}/lessons/{_lesson(s).id}/edit/", who="requester", status=403
    ),
    "404": Visit(lambda s: "/no-such-page/", status=404),
    "admin_login": Visit(lambda s: "/admin/login/"),
    "admin_index": Visit(lambda s: "/admin/", who="admin"),
    "admin_queue": Visit(lambda s: reverse("admin:courses_course_changelist"), who="admin"),
    "admin_all_courses": Visit(
        lambda s: reverse("admin:courses_course_changelist") + "?queue=all", who="admin"
    ),
    "admin_course": Visit(lambda s: reverse("admin:courses_course_change", args=[s.held.pk]), who="admin"),
    "admin_read_and_edit": Visit(
        lambda s: reverse("admin:courses_course_content", args=[s.held.pk]), who="admin"
    ),
    "admin_lesson_edit": Visit(
        lambda s: reverse("admin:courses_lesson_edit", args=[first_lesson(s.private).pk]), who="admin"
    ),
    "admin_quiz_edit": Visit(
        lambda s: reverse("admin:courses_quiz_edit", args=[Quiz.objects.filter(course=s.private).first().pk]),
        who="admin",
    ),
    "admin_part_history": Visit(
        lambda s: reverse("admin:courses_part_history", args=[PartKind.LESSON, first_lesson(s.private).pk]),
        who="admin",
    ),
    "admin_regenerate_confirm": Visit(
        lambda s: reverse(
            "admin:courses_part_regenerate", args=[PartKind.LESSON, first_lesson(s.private).pk]
        ),
        who="admin",
    ),
    "admin_reject": Visit(lambda s: reverse("admin:courses_course_reject", args=[s.private.pk]), who="admin"),
    "admin_request_changes": Visit(
        lambda s: reverse("admin:courses_course_request_changes", args=[s.private.pk]), who="admin"
    ),
    "admin_cost_dashboard": Visit(lambda s: reverse("admin:courses_dashboard"), who="admin"),
    "admin_delivery_health": Visit(lambda s: reverse("admin:delivery_health"), who="admin"),
    "admin_subscriptions": Visit(lambda s: reverse("admin:delivery_subscription_changelist"), who="admin"),
    "admin_llm_calls": Visit(lambda s: reverse("admin:courses_llmcall_changelist"), who="admin"),
    "admin_reports": Visit(lambda s: reverse("admin:courses_lessonreport_changelist"), who="admin"),
    "admin_flags": Visit(lambda s: reverse("admin:courses_contentflag_changelist"), who="admin"),
    "admin_audit_log": Visit(lambda s: reverse("admin:courses_auditentry_changelist"), who="admin"),
}


def blocking_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page, one readable line per element."""
    results = AXE.run(page)
    lines = []
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING and violation["id"] not in ALSO_BLOCKING:
            continue
        for node in violation["nodes"]:
            lines.append(
                f"{violation['impact']} {violation['id']}: {violation['help']}\n"
                f"    at {', '.join(str(t) for t in node['target'])}: {node['html'][:160]}\n"
                f"    {node.get('failureSummary', '').replace(chr(10), ' ')[:300]}"
            )
    return lines


@pytest.fixture
def site() -> Site:
    return make_site()


def _open(browser: Browser, size: str) -> Iterator[Page]:
    phone = size == "phone"
    with browser_page(browser, viewport=SIZES[size], is_mobile=phone, has_touch=phone) as page:
        yield page


@pytest.mark.parametrize("name", list(PAGES))
def test_every_main_page_has_no_serious_accessibility_violation(
    name: str, browser: Browser, live_server: Any, site: Site
) -> None:
    visit = PAGES[name]
    users = {"learner": site.learner, "requester": site.requester, "admin": site.admin}
    failures = []
    SCREENSHOTS.mkdir(exist_ok=True)
    for size in SIZES:
        for page in _open(browser, size):
            if visit.who in users:
                sign_in_as(page, live_server, users[visit.who])
            response = page.goto(live_server.url + visit.url(site))
            assert response is not None
            if visit.then:
                visit.then(page)
                page.wait_for_load_state()
            else:
                assert response.status == visit.status, f"{name}: {response.status}"
            for scheme in SCHEMES:
                page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                # The admin's links fade between colours (CSS transitions): judge them once they have settled.
                # (polled with evaluate: the admin's CSP forbids the eval that wait_for_function needs)
                for _ in range(40):
                    if page.evaluate("document.getAnimations().every(a => a.playState === 'finished')"):
                        break
                    page.wait_for_timeout(50)
                failures += [f"[{size}, {scheme}] {line}" for line in blocking_violations(page)]
                page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}-{scheme}.png"), full_page=True)
    assert not failures, f"{name} ({PAGES[name].url(site)}):\n" + "\n".join(failures)
