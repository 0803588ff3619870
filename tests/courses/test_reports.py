"""Learners report a lesson from its page or from a signed email link; reports land in the queue."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from courses import visibility
from courses.models import AuditEntry, Course, Lesson, LessonReport
from courses.moderation import review
from courses.moderation import views as moderation_views
from courses.moderation.forms import REPORT_REASON_MISSING
from tests.factories import UserFactory, moderator, written_course

pytestmark = pytest.mark.django_db


def a_lesson(**fields: object) -> Lesson:
    course = written_course(weeks=1, lessons_per_week=1, **fields)
    return Lesson.objects.get(course=course)


def page_url(lesson: Lesson) -> str:
    return reverse("courses:lesson_report", args=[lesson.course_id, lesson.pk])


def test_the_report_form_quotes_the_passage_passed_from_the_lesson_page(client: Client) -> None:
    lesson = a_lesson()

    page = client.get(page_url(lesson) + "?quote=Rome+fell+in+1990").content.decode()

    assert lesson.title in page
    assert "Rome fell in 1990" in page
    for reason in LessonReport.Reason.values:
        assert f'value="{reason}"' in page


def test_a_signed_in_learner_reports_a_lesson_with_the_quoted_text(client: Client) -> None:
    lesson, learner = a_lesson(), UserFactory()
    client.force_login(learner)

    response = client.post(
        page_url(lesson), {"reason": "wrong", "quoted_text": "Rome fell in 1990", "comment": "It was 476."}
    )

    assert response.status_code == 200
    assert moderation_views.REPORT_THANKS in response.content.decode()
    report = LessonReport.objects.get()
    assert (report.lesson, report.course_id, report.reporter) == (lesson, lesson.course_id, learner)
    assert (report.reason, report.quoted_text, report.comment) == (
        "wrong",
        "Rome fell in 1990",
        "It was 476.",
    )
    assert report.source == LessonReport.Source.WEB
    assert report.reporter_ip == "127.0.0.1"


def test_without_a_quote_the_report_keeps_how_the_lesson_began_then(client: Client) -> None:
    lesson = a_lesson()

    client.post(page_url(lesson), {"reason": "broken"})

    assert LessonReport.objects.get().quoted_text.startswith("## Why it matters")


def test_a_report_needs_a_reason(client: Client) -> None:
    response = client.post(page_url(a_lesson()), {"reason": "boring"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not LessonReport.objects.exists()


def test_a_report_without_a_reason_is_sent_back_with_the_reasons_box_marked(client: Client) -> None:
    response = client.post(page_url(a_lesson()), {"comment": "Odd."})

    page = response.content.decode()
    assert f'<p class="field-error" id="id_reason_error">{REPORT_REASON_MISSING}</p>' in page
    assert '<fieldset class="has-error" aria-describedby="id_reason_error">' in page
    assert "Odd." in page
    assert not LessonReport.objects.exists()


def test_the_report_form_says_who_wrote_the_course(client: Client) -> None:
    by_ai, offline = a_lesson(generator="gpt-4o-mini"), a_lesson(generator="offline")

    assert "this course was written by an AI" in client.get(page_url(by_ai)).content.decode()
    assert "written by Semester's offline generator" in client.get(page_url(offline)).content.decode()


def test_the_same_learner_reporting_again_updates_their_report() -> None:
    lesson, learner = a_lesson(), UserFactory()
    first = review.lesson_report(lesson=lesson, reason="wrong", comment="One", reporter=learner)
    again = review.lesson_report(lesson=lesson, reason="wrong", comment="Two", reporter=learner)

    assert first.pk == again.pk
    assert LessonReport.objects.get().comment == "Two"


def test_the_form_checks_csrf_on_the_website() -> None:
    lesson = a_lesson()

    response = Client(enforce_csrf_checks=True).post(page_url(lesson), {"reason": "wrong"})

    assert response.status_code == 403
    assert not LessonReport.objects.exists()


def test_a_lesson_of_a_withheld_course_cannot_be_reported_by_strangers(client: Client) -> None:
    held = a_lesson(held_for_review=True)
    rejected = a_lesson(review_state=Course.Review.REJECTED, requested_by=UserFactory())
    other_course = written_course(weeks=1, lessons_per_week=1)

    response = client.get(page_url(held))
    assert response.status_code == 403
    assert visibility.HELD_MESSAGE in response.content.decode()
    assert held.title not in response.content.decode()
    assert client.get(page_url(rejected)).status_code == 404
    wrong_course = reverse("courses:lesson_report", args=[other_course.pk, held.pk])
    assert client.get(wrong_course).status_code == 404


def test_reports_are_rate_limited_per_address(client: Client) -> None:
    lesson = a_lesson()
    for _ in range(moderation_views.REPORTS_PER_IP_PER_HOUR):
        assert client.post(page_url(lesson), {"reason": "broken"}).status_code == 200

    response = client.post(page_url(lesson), {"reason": "broken"})

    assert response.status_code == 429
    assert LessonReport.objects.count() == moderation_views.REPORTS_PER_IP_PER_HOUR


def test_a_moderator_resolves_a_report_and_it_is_audited(client: Client) -> None:
    lesson = a_lesson()
    report = review.lesson_report(lesson=lesson, reason="wrong", quoted_text="1990")
    client.force_login(moderator())

    client.post(reverse("admin:courses_report_resolve", args=[report.pk]))
    client.post(reverse("admin:courses_report_resolve", args=[report.pk]))  # twice: still one entry

    report.refresh_from_db()
    assert report.resolved_at is not None
    entry = AuditEntry.objects.get(course=lesson.course)
    assert entry.action == AuditEntry.Action.RESOLVE_REPORT
    assert "Something in it is wrong" in entry.reason
    assert Course.objects.get(pk=lesson.course_id).review_state == Course.Review.PENDING
