"""The tutor on the lesson page: asking with and without JavaScript, the answer as it grows, coming back to the
conversation, reporting an answer, and My learning's list (offline: BM25 excerpts, eager tasks)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory, TestCase
from django.urls import reverse
from django.utils import timezone

from courses.models import Lesson, LessonReport, TutorMessage
from courses.tutor import answering, asking, live
from courses.tutor.middleware import LiveAnswerMiddleware
from courses.tutor.selectors import live_url
from tests.factories import UserFactory, first_lesson, written_course

pytestmark = pytest.mark.django_db


@pytest.fixture
def lesson(offline: None) -> Lesson:
    return first_lesson(written_course(weeks=4, lessons_per_week=2))


@pytest.fixture
def learner_client(client: Client) -> Client:
    client.force_login(UserFactory(email="ada@example.com"))
    return client


def lesson_url(lesson: Lesson) -> str:
    return reverse("delivery:lesson", args=[lesson.course_id, lesson.id])


def ask_url(lesson: Lesson) -> str:
    return reverse("courses:tutor_ask", args=[lesson.course_id, lesson.id])


def post_question(client: Client, lesson: Lesson, question: str, **headers: Any) -> Any:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(ask_url(lesson), {"question": question}, **headers)


def test_a_visitor_is_asked_to_sign_in_and_their_post_stores_nothing(client: Client, lesson: Lesson) -> None:
    page = client.get(lesson_url(lesson)).content.decode()
    assert "Sign in to ask the tutor" in page
    response = post_question(client, lesson, "Why?")
    assert response.status_code == 302
    assert reverse("accounts:sign_in") in response["Location"]
    assert not TutorMessage.objects.exists()


def test_without_javascript_the_form_posts_and_the_page_shows_the_answer(
    learner_client: Client, lesson: Lesson
) -> None:
    response = post_question(learner_client, lesson, "What is the exercise about?")
    message = TutorMessage.objects.get()
    assert response.status_code == 302
    assert response["Location"] == lesson_url(lesson) + f"#tutor-{message.id}"
    page = learner_client.get(lesson_url(lesson)).content.decode()
    assert "What is the exercise about?" in page
    assert "Excerpts from this week" in page
    assert "Try it yourself in five minutes." in page  # the matching passage, quoted
    assert "Report this answer" in page


def test_the_conversation_is_shown_again_on_return_and_only_to_its_learner(
    learner_client: Client, lesson: Lesson, client: Client
) -> None:
    post_question(learner_client, lesson, "First question about the idea?")
    post_question(learner_client, lesson, "Second question about the example?")
    page = learner_client.get(lesson_url(lesson)).content.decode()
    assert page.index("First question") < page.index("Second question")
    other = Client()
    other.force_login(UserFactory())
    assert "First question" not in other.get(lesson_url(lesson)).content.decode()


def test_a_refused_question_shows_its_reason_on_the_page(learner_client: Client, lesson: Lesson) -> None:
    response = post_question(learner_client, lesson, "x" * 20_000)
    assert response.status_code == 302
    page = learner_client.get(lesson_url(lesson)).content.decode()
    assert asking.QUESTION_TOO_LONG.format(limit=2000) in page
    assert not TutorMessage.objects.exists()


def test_with_javascript_asking_returns_json_and_the_answer_is_read_from_where_it_grew(
    learner_client: Client, lesson: Lesson
) -> None:
    response = post_question(learner_client, lesson, "What matters here?", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    data = response.json()
    assert 'id="tutor-' in data["html"]
    state = learner_client.get(data["live_url"] + "?from=0").json()
    assert state["text"].startswith("**Excerpts from this week")
    assert state["ended"]["status"] == "done"
    assert learner_client.get(data["live_url"] + f"?from={state['next']}").json()["text"] == ""


def test_with_javascript_a_refused_question_is_a_400_with_the_reason(
    learner_client: Client, lesson: Lesson
) -> None:
    response = post_question(learner_client, lesson, "  ", HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": asking.QUESTION_EMPTY}


def test_html_in_a_question_is_shown_as_text(learner_client: Client, lesson: Lesson) -> None:
    post_question(learner_client, lesson, "<img src=x onerror=alert(1)> why?")
    page = learner_client.get(lesson_url(lesson)).content.decode()
    assert "<img src=x onerror" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; why?" in page


def test_an_answer_being_written_shows_what_is_written_so_far_and_a_refresh_link(
    learner_client: Client, lesson: Lesson
) -> None:
    post_question(learner_client, lesson, "What is the exercise?")
    message = TutorMessage.objects.get()
    TutorMessage.objects.filter(pk=message.pk).update(status=TutorMessage.Status.WRITING)
    live.live_append(message.id + 1000, "unrelated")  # another answer's pieces never leak in
    page = learner_client.get(lesson_url(lesson)).content.decode()
    assert "The tutor is writing" in page
    assert f'data-live-url="{live_url(message.id)}"' in page
    assert "Excerpts from this week" in page  # the text so far, from Redis
    assert "unrelated" not in page


def test_a_cut_off_answer_says_so(learner_client: Client, lesson: Lesson) -> None:
    post_question(learner_client, lesson, "Will this be cut?")
    TutorMessage.objects.update(status=TutorMessage.Status.CUT_OFF, answer="Half an ans")
    page = learner_client.get(lesson_url(lesson)).content.decode()
    assert answering.CUT_OFF_NOTICE in page
    assert "Report this answer" not in page


def test_a_forged_live_token_finds_nothing(client: Client) -> None:
    assert client.get(reverse("courses:tutor_live", args=["12:forged"])).status_code == 404


def test_reporting_an_answer_reaches_the_moderators_with_the_conversation(
    learner_client: Client, lesson: Lesson
) -> None:
    post_question(learner_client, lesson, "What is the exercise?")
    message = TutorMessage.objects.get()
    response = learner_client.post(
        reverse("courses:tutor_report", args=[message.id]), {"comment": "It quotes the wrong part"}
    )
    assert response.status_code == 302
    report = LessonReport.objects.get()
    assert report.reason == LessonReport.Reason.TUTOR
    assert report.tutor_message_id == message.id
    assert report.lesson_id == lesson.id
    assert "Q: What is the exercise?" in report.quoted_text
    assert "A: **Excerpts" in report.quoted_text
    assert report.comment == "It quotes the wrong part"
    assert asking.REPORT_DONE in learner_client.get(lesson_url(lesson)).content.decode()


def test_no_one_reports_another_learners_answer(learner_client: Client, lesson: Lesson) -> None:
    post_question(learner_client, lesson, "What is the exercise?")
    other = Client()
    other.force_login(UserFactory())
    response = other.post(reverse("courses:tutor_report", args=[TutorMessage.objects.get().id]))
    assert response.status_code == 404
    assert not LessonReport.objects.exists()


def test_my_learning_lists_the_conversations(learner_client: Client, lesson: Lesson) -> None:
    post_question(learner_client, lesson, "What is the exercise?")
    page = learner_client.get(reverse("delivery:my_learning")).content.decode()
    assert "Your questions to the tutor" in page
    assert f'href="{lesson_url(lesson)}#tutor"' in page
    assert "1 question," in page


def test_an_answer_whose_worker_died_shows_as_cut_off_and_does_not_block_the_next_question(
    learner_client: Client, lesson: Lesson, settings: Any
) -> None:
    post_question(learner_client, lesson, "What is the exercise?")
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    TutorMessage.objects.update(status=TutorMessage.Status.WRITING, created_at=long_ago)
    page = learner_client.get(lesson_url(lesson)).content.decode()
    assert answering.CUT_OFF_NOTICE in page
    assert "data-live-url" not in page
    post_question(learner_client, lesson, "Can I ask again?")
    assert TutorMessage.objects.count() == 2


def test_each_refresh_link_is_a_new_address_so_clicking_it_reloads_the_page(
    learner_client: Client, lesson: Lesson
) -> None:
    post_question(learner_client, lesson, "What is the exercise?")
    TutorMessage.objects.update(status=TutorMessage.Status.WRITING)
    first, second = (learner_client.get(lesson_url(lesson)).content.decode() for _ in range(2))
    link = re.compile(r'href="(\?answer=[^"]+)">Refresh</a>')
    assert link.search(first)[1] != link.search(second)[1]  # type: ignore[index]


def test_a_poll_is_answered_before_the_rest_of_the_middleware(rf: RequestFactory) -> None:
    """Fifty learners poll several times a second: no session, CSRF, authentication or URL resolution."""
    live.live_append(7, "The water keeps ")
    middleware = LiveAnswerMiddleware(lambda request: pytest.fail("the poll went on through the stack"))
    response = middleware(rf.get(live_url(7) + "?from=0"))
    assert response.status_code == 200
    assert json.loads(response.content) == {"text": "The water keeps ", "next": 1, "ended": None}
    assert "no-store" in response["Cache-Control"]


def test_other_requests_pass_through_the_poll_middleware(rf: RequestFactory) -> None:
    passed = HttpResponse("page")
    middleware = LiveAnswerMiddleware(lambda request: passed)
    assert middleware(rf.get("/courses/")) is passed
    assert middleware(rf.post(live_url(7))) is passed  # the view refuses it: 405
    assert middleware(rf.get(live_url(7) + "extra/")) is passed


def test_polls_through_the_whole_site_keep_the_security_headers_and_refuse_other_methods(
    client: Client,
) -> None:
    live.live_append(8, "Because ")
    response = client.get(live_url(8))
    assert response.json()["text"] == "Because "
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs first
    assert client.post(live_url(8)).status_code == 405
    forged = client.get(reverse("courses:tutor_live", args=["12:forged"]))
    assert forged.status_code == 404
    assert forged.json() == {"error": "No such answer."}
