"""What the emails say and how they are built: one shared render per course-week, safe HTML, a text part."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail, signing

from courses.models import Course, Lesson, Week
from delivery.email import emails, tokens
from delivery.email.emails import OPENING_WORDS, WEEK_DONE, lesson_opening, week_email, week_email_personal
from delivery.models import Subscription
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

HOSTILE = """Intro with a [bad link](javascript:alert(1)) and a [good one](https://example.org/read).

<script>alert("x")</script>
<img src=x onerror="alert(1)">
<iframe src="https://evil.example"></iframe>
"""


def test_the_subject_and_body_name_the_course_and_the_week(course: Course) -> None:
    email = week_email(course=course, week_number=2)

    assert email.subject == f"{course.title} · Week 2: Week 2 of {course.topic}"
    assert f"{course.title}, week 2 of 4" in email.text
    assert "Week 2 of 4" in email.html


def test_lessons_come_as_sanitized_html_and_as_plain_text(course: Course) -> None:
    Lesson.objects.filter(course=course, week__number=1, number=1).update(body=HOSTILE, body_html="")
    Week.objects.filter(course=course, number=1).update(
        overview="**Bold** start <script>x()</script>", overview_html=""
    )

    email = week_email(course=course, week_number=1)

    for bad in ("<script", "onerror", "<iframe", "javascript:", "<img"):
        assert bad not in email.html.lower()
    assert re.search(r'<a style="[^"]+" href="https://example.org/read"', email.html)
    assert "<strong>Bold</strong> start" in email.html
    assert "Lesson 1.1: Lesson 1.1" in email.text
    assert "A short paragraph that explains the idea" in email.text  # lesson 1.2's body, as text


def test_the_html_carries_its_styles_inline_with_no_external_css_or_script(course: Course) -> None:
    html = week_email(course=course, week_number=1).html

    assert not re.search(r"<(style|script|link)\b", html)
    assert re.search(r'<p style="[^"]+">A short paragraph', html)
    assert 'role="presentation"' in html


def test_the_shared_email_holds_placeholders_each_recipient_fills_with_their_own_links(
    course: Course,
) -> None:
    email = week_email(course=course, week_number=1)
    first, second = SubscriptionFactory(course=course), SubscriptionFactory(course=course)

    mine, theirs = (
        week_email_personal(email, subscription_id=s.id, link_generation=0) for s in (first, second)
    )

    assert WEEK_DONE in email.html
    assert WEEK_DONE in email.text
    assert set(mine.substitutions) == set(theirs.substitutions)
    assert len(mine.substitutions) == 4 + 4  # manage, unsubscribe, calendar, done + question 1's 4 answers
    assert all(key in email.html for key in mine.substitutions)
    assert not set(mine.substitutions.values()) & set(theirs.substitutions.values())
    assert mine.headers["List-Unsubscribe"] == f"<{mine.substitutions[emails.UNSUBSCRIBE]}>"
    assert sum(len(k) + len(v) for k, v in mine.substitutions.items()) < 10_000  # SendGrid's limit


def test_each_lesson_is_its_opening_and_a_link_to_read_the_rest_on_the_site(course: Course) -> None:
    email = week_email(course=course, week_number=1)

    assert "A short paragraph that explains the idea" in email.html
    assert "Why it matters" not in email.html  # the lesson's headings and the rest stay on the site
    assert "Try it yourself" not in email.html
    assert email.html.count("Read the whole lesson (1 min)") == 2
    assert f"https://semester.test/courses/{course.id}/weeks/1/lessons/1/" in email.text
    assert "Try it yourself" not in email.text


def test_the_full_lessons_setting_puts_every_lesson_in_the_email(course: Course, settings: Any) -> None:
    settings.DELIVERY_EMAIL_FULL_LESSONS = True

    email = week_email(course=course, week_number=1)

    assert re.search(r'<h2 style="[^"]+"[^>]*>Why it matters</h2>', email.html)  # the lesson's own markdown
    assert "Try it yourself in five minutes." in email.html
    assert "Try it yourself in five minutes." in email.text


def test_the_email_asks_the_first_question_and_says_the_others_follow_on_the_page(course: Course) -> None:
    email = week_email(course=course, week_number=1)

    assert "Week 1, question 1?" in email.html
    assert "Week 1, question 2?" not in email.html
    assert "asks the next of the 4 questions" in email.html
    assert "asks the next of the 4 questions" in email.text


def test_lesson_openings_skip_headings_and_lists_and_stop_after_about_sixty_words() -> None:
    body = "# Title\n\n- a list\n\n" + " ".join(["word"] * 80) + "\n\nSecond paragraph."
    opening = lesson_opening(body)
    assert opening.startswith("word word")
    assert opening.endswith(" …")
    assert len(opening.split()) == OPENING_WORDS + 1


def test_the_week_is_rendered_once_and_again_only_when_the_course_text_changes(
    course: Course, django_assert_num_queries: Any
) -> None:
    first = week_email(course=course, week_number=1)
    with django_assert_num_queries(0):
        assert week_email(course=course, week_number=1) == first

    Lesson.objects.filter(course=course, week__number=1, number=1).update(title="Rewritten by a moderator")
    Course.objects.filter(id=course.id).update(content_version=2)
    course.refresh_from_db()

    assert "Rewritten by a moderator" in week_email(course=course, week_number=1).html


def test_a_week_without_a_written_quiz_has_no_quiz_section(course: Course) -> None:
    Week.objects.get(course=course, number=3).quiz.delete()

    email = week_email(course=course, week_number=3)

    assert email.quiz_id is None
    assert "Quiz" not in email.html
    assert len(week_email_personal(email, subscription_id=1, link_generation=0).substitutions) == 4


def test_the_confirmation_email_has_a_text_and_an_html_part_with_the_link(course: Course) -> None:
    subscription = SubscriptionFactory(course=course, status="pending", timezone="Asia/Kolkata")

    emails.send_confirmation(subscription)

    [message] = mail.outbox
    assert message.subject == f"Confirm your weekly emails: {course.title}"
    link = re.search(r"https://semester\.test/subscriptions/confirm/\S+/", message.body)
    assert link
    assert link[0] in message.alternatives[0][0]
    assert "Monday at 08:00 (Asia/Kolkata)" in message.body
    assert "<script" not in message.alternatives[0][0]


def test_text_parts_are_not_html_escaped(course: Course) -> None:
    Course.objects.filter(id=course.id).update(title="Salt & Pepper <basics>")
    subscription = Subscription.objects.select_related("course").get(id=SubscriptionFactory(course=course).id)

    emails.send_already_subscribed(subscription)

    assert mail.outbox[0].subject == "You already receive Salt & Pepper <basics>"
    assert "Salt & Pepper <basics>" in mail.outbox[0].body
    assert "Salt &amp; Pepper &lt;basics&gt;" in mail.outbox[0].alternatives[0][0]


def test_links_are_signed_exactly_as_django_signs_them() -> None:
    token = tokens.answer_token(subscription_id=12, quiz_id=34, question=2, choice=3)

    assert token == signing.Signer(salt="delivery.quiz-answer").sign("12.34.2.3")
    assert tokens.answer_token_read(token) == tokens.Answer(12, 34, 2, 3)
    assert tokens.manage_token(subscription_id=7, generation=2) == signing.Signer(
        salt="delivery.manage"
    ).sign("7.2")
    assert tokens.calendar_token(subscription_id=7, generation=2) == signing.Signer(
        salt="delivery.calendar"
    ).sign("7.2")


def test_placeholders_and_template_syntax_written_by_the_llm_are_never_filled_in(course: Course) -> None:
    lesson = Lesson.objects.filter(course=course, week__number=1).first()
    assert lesson is not None
    hostile = "Click %sem:unsubscribe% or %sem:manage% now. {{ secret }} {% now %} %custom% 100% sure."
    Lesson.objects.filter(pk=lesson.pk).update(body=hostile, body_html=f"<p>{hostile}</p>")
    Course.objects.filter(pk=course.pk).update(content_version=course.content_version + 1)
    course.refresh_from_db()
    email = week_email(course=course, week_number=1)
    personal = week_email_personal(
        email, subscription_id=SubscriptionFactory(course=course).id, link_generation=0
    )

    for body in (email.html, email.text):
        sent = body
        for key, value in personal.substitutions.items():  # as SendGrid does
            sent = sent.replace(key, value)
        lesson_part = sent[sent.index("Click") : sent.index("sure.")]
        assert personal.substitutions[emails.UNSUBSCRIBE] not in lesson_part
        assert personal.substitutions[emails.MANAGE] not in lesson_part
        assert "{{" not in lesson_part
        assert "{%" not in lesson_part
        assert "100% sure" in sent  # a percentage is left as it is
        assert personal.substitutions[emails.UNSUBSCRIBE] in sent  # our own link is still filled in
