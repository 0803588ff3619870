"""The links in a weekly email, followed from the email as sent: one-click unsubscribe, quiz answers,
"mark this week done". GETs (what link scanners do) change nothing; POSTs do."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from courses.models import Course
from delivery.email import tokens
from delivery.email.dispatch import DispatchResult
from delivery.email.subscriptions import COURSE_WITHDRAWN, EMAIL_LINK_INVALID
from delivery.models import Delivery, Enrollment, LessonCompletion, QuizAttempt, Source, Subscription
from tests.fakes.sendgrid_server import FakeSendGrid, SentMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def email(
    sendgrid: FakeSendGrid, subscribe: Callable[..., Subscription], dispatch: Callable[..., DispatchResult]
) -> SentMessage:
    """Week 1 as the subscriber received it."""
    subscription = subscribe()
    Enrollment.objects.create(user=subscription.user, course=subscription.course)
    dispatch()
    return sendgrid.messages[0]


def links_in(email: SentMessage, kind: str) -> list[str]:
    return re.findall(rf'href="https://semester\.test(/{kind}/[^"]+)"', email.html or "")


@pytest.fixture
def scanner() -> Client:
    """A mail scanner or a mail client: no session, and CSRF checks on as in production."""
    return Client(enforce_csrf_checks=True)


def test_the_one_click_unsubscribe_header_posts_without_session_or_csrf_token(
    email: SentMessage, scanner: Client
) -> None:
    header = (email.headers or {})["List-Unsubscribe"]
    assert (email.headers or {})["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = header.removeprefix("<https://semester.test").removesuffix(">")

    response = scanner.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert Subscription.objects.get().status == Subscription.Status.UNSUBSCRIBED
    assert (
        scanner.post(
            path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 200
    )


def test_opening_the_unsubscribe_link_only_shows_a_button(email: SentMessage, scanner: Client) -> None:
    [path] = links_in(email, "unsubscribe")

    page = scanner.get(path)

    assert page.status_code == 200
    assert b'<form method="post">' in page.content
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE


def test_the_unsubscribe_link_in_the_body_and_the_header_are_the_same(email: SentMessage) -> None:
    assert (
        f"<https://semester.test{links_in(email, 'unsubscribe')[0]}>"
        == (email.headers or {})["List-Unsubscribe"]
    )
    assert "https://semester.test/unsubscribe/" in (email.text or "")


def test_an_answer_link_records_nothing_on_get_and_the_answer_with_its_explanation_on_post(
    email: SentMessage, client: Client
) -> None:
    answers = links_in(email, "email/answer")
    assert len(answers) == 16  # 4 questions × 4 options, each its own signed link
    wrong = answers[1]  # question 1, option B

    page = client.get(wrong)

    assert page.status_code == 200
    assert b"Record my answer" in page.content
    assert not QuizAttempt.objects.exists()
    result = client.post(wrong)
    attempt = QuizAttempt.objects.get()
    assert (attempt.answers, attempt.score, attempt.source) == ({"0": 1}, 0, Source.EMAIL)
    assert "Not quite." in result.content.decode()
    assert "The answer is: <strong>Right</strong>" in result.content.decode()
    assert "Because the lesson said so." in result.content.decode()


def test_the_first_answer_to_a_question_stands(email: SentMessage, client: Client) -> None:
    answers = links_in(email, "email/answer")
    client.post(answers[1])

    again = client.post(answers[0])

    assert QuizAttempt.objects.get().answers == {"0": 1}
    assert "your first answer stands" in again.content.decode()
    client.post(answers[4])  # question 2, option A: right
    assert QuizAttempt.objects.get().answers == {"0": 1, "1": 0}
    assert QuizAttempt.objects.get().score == 1


def test_answer_links_are_signed_per_subscriber_and_choice(email: SentMessage, client: Client) -> None:
    path = links_in(email, "email/answer")[1]
    forged = path.replace(".0.1:", ".0.0:")  # same signature, another choice

    response = client.post(forged)

    assert response.status_code == 404
    assert EMAIL_LINK_INVALID in response.content.decode()
    assert not QuizAttempt.objects.exists()


def test_mark_this_week_done_changes_nothing_on_get_and_marks_the_lessons_on_post(
    email: SentMessage, client: Client
) -> None:
    [path] = links_in(email, "email/done")

    assert client.get(path).status_code == 200
    assert not LessonCompletion.objects.exists()
    page = client.post(path)

    assert "Week 1 is marked done" in page.content.decode()
    assert LessonCompletion.objects.filter(source=Source.EMAIL).count() == 2
    assert "already marked done" in client.post(path).content.decode()


def test_progress_from_email_is_the_learners_own(email: SentMessage, client: Client) -> None:
    client.post(links_in(email, "email/done")[0])

    subscription = Subscription.objects.get()
    assert set(LessonCompletion.objects.values_list("user_id", flat=True)) == {subscription.user_id}
    assert Delivery.objects.get().subscription.user == subscription.user


def test_every_lesson_links_to_its_page_on_the_site(email: SentMessage) -> None:
    course_id = Subscription.objects.get().course_id

    lessons = set(re.findall(r'href="(https://semester\.test/courses/[^"]+/lessons/\d+/)"', email.html or ""))

    assert lessons == {f"https://semester.test/courses/{course_id}/weeks/1/lessons/{n}/" for n in (1, 2)}


@pytest.mark.parametrize("value", ["1.2.².0", "1.2.3." + "4" * 5000])
def test_a_signed_answer_that_is_not_plain_small_numbers_is_a_bad_token(value: str) -> None:
    with pytest.raises(tokens.BadToken):
        tokens.answer_token_read(tokens.answer_signer()(value))


def test_answer_and_week_done_links_stop_showing_a_rejected_course(
    email: SentMessage, client: Client
) -> None:
    Course.objects.update(review_state=Course.Review.REJECTED)

    for path in (links_in(email, "email/answer")[0], links_in(email, "email/done")[0]):
        response = client.get(path)
        assert response.status_code == 404, path
        assert COURSE_WITHDRAWN in response.content.decode()
    assert client.post(links_in(email, "email/answer")[0]).status_code == 404
    assert not QuizAttempt.objects.exists()
