"""The links in a weekly email, followed from the email as sent: one-click unsubscribe, quiz answers,
"mark this week done". A quiz answer is recorded by the click (the latest stands, so a scanner's fetches
never lock an answer in); the other links change nothing on GET, only on POST."""

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


def test_an_answer_link_records_the_answer_with_one_click_and_asks_the_next_question(
    email: SentMessage, client: Client
) -> None:
    answers = links_in(email, "email/answer")
    assert len(answers) == 4  # question 1's options, each its own signed link; the rest follow on the page
    wrong = answers[1]  # question 1, option B

    page = client.get(wrong)

    html = page.content.decode()
    attempt = QuizAttempt.objects.get()
    assert (attempt.answers, attempt.score, attempt.source) == ({"0": 1}, 0, Source.EMAIL)
    assert "Your answer is recorded: <strong>Wrong</strong>" in html
    assert "Not quite." in html
    assert "The answer is: <strong>Right</strong>" in html
    assert "Because the lesson said so." in html
    assert "Week 1, question 2?" in html
    second = re.findall(r'href="(/email/answer/[^"]+)"', html)
    assert len(second) == 4
    client.get(second[0])
    assert QuizAttempt.objects.get().answers == {"0": 1, "1": 0}
    assert QuizAttempt.objects.get().score == 1


def test_five_questions_take_five_clicks_and_the_last_page_gives_the_score(
    email: SentMessage, client: Client
) -> None:
    path = links_in(email, "email/answer")[0]
    for _ in range(4):
        html = client.get(path).content.decode()
        following = re.findall(r'href="(/email/answer/[^"]+)"', html)
        if not following:
            break
        path = following[0]
    assert "That was the last question" in html
    assert "You answered 4 of 4 questions and got <strong>4</strong> right." in html
    assert QuizAttempt.objects.count() == 1


def test_the_latest_answer_to_a_question_stands(email: SentMessage, client: Client) -> None:
    answers = links_in(email, "email/answer")
    for path in answers:  # a mail scanner fetching every link as the email arrives
        client.get(path)
    assert QuizAttempt.objects.get().answers == {"0": 3}

    client.get(answers[0])  # then the learner's own click

    assert QuizAttempt.objects.get().answers == {"0": 0}
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
