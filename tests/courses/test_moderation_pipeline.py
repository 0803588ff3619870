"""Screening and the spend cap wired into the generation pipeline, against the fake OpenAI server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from courses import visibility
from courses.errors import CourseRequestError
from courses.generation.request import course_request
from courses.models import AuditEntry, ContentFlag, Course, Lesson, LLMCall, RefusedTopic
from courses.moderation import costs, review
from tests.factories import UserFactory, written_course
from tests.fakes.openai_server import (
    FakeOpenAI,
    generate_instance,
    last_user_text,
    reply_for,
    response_schema,
)

pytestmark = pytest.mark.django_db(transaction=True)  # the pipeline enqueues on commit, as in production


def request(topic: str = "Roman aqueducts", **kwargs: Any) -> Course:
    kwargs.setdefault("user", None)
    result = course_request(topic=topic, language="en", weeks=4, ip="203.0.113.9", **kwargs)
    return Course.objects.get(pk=result.course.pk)


def tamper(schema_name: str, change: Any) -> Any:
    """An override for the fake: its usual answer for `schema_name` requests, changed by `change(answer, body)`."""

    def override(body: dict[str, Any]) -> Any:
        if body.get("response_format", {}).get("json_schema", {}).get("name") != schema_name:
            return None
        answer = generate_instance(response_schema(body) or {}, context=last_user_text(body["messages"]))
        return change(answer, body)

    return override


def test_a_flagged_topic_is_refused_before_any_generation_call(fake_openai: FakeOpenAI) -> None:
    user = UserFactory()

    with pytest.raises(review.TopicRefused) as refused:
        request("FLAGME: everything about it", user=user)

    assert refused.value.message == review.TOPIC_REFUSED_MESSAGE
    assert refused.value.field == "topic"
    assert isinstance(refused.value, CourseRequestError)  # the website and API already show these
    assert fake_openai.calls() == []  # not one chat completion
    assert len(fake_openai.calls("/v1/moderations")) == 1
    assert not Course.objects.exists()
    logged = RefusedTopic.objects.get()
    assert (logged.topic, logged.requested_by, logged.requester_ip) == (
        "FLAGME: everything about it",
        user,
        "203.0.113.9",
    )
    assert logged.source == ContentFlag.Source.OPENAI
    assert logged.categories


def test_offline_a_flagged_topic_is_refused_by_the_local_rules_without_generating(offline: None) -> None:
    with pytest.raises(review.TopicRefused):
        request("How to make a pipe bomb")

    assert not Course.objects.exists()
    assert not LLMCall.objects.exists()
    assert RefusedTopic.objects.get().source == ContentFlag.Source.LOCAL_RULES


def test_a_clean_topic_is_written_and_each_part_is_screened_once(fake_openai: FakeOpenAI) -> None:
    course = request()

    assert course.status == Course.Status.READY
    assert not course.held_for_review
    parts = course.lessons.count() + course.quizzes.count()
    # The topic, the outline, then every lesson and quiz: one moderation call each.
    assert len(fake_openai.calls("/v1/moderations")) == 1 + 1 + parts
    assert LLMCall.objects.filter(stage="moderation", course=course).count() == 1 + parts
    assert not ContentFlag.objects.exists()


def test_a_flagged_lesson_holds_its_course_back_from_the_public_and_email(fake_openai: FakeOpenAI) -> None:
    def flag_week_two(answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if "lesson 1 of week 2" in body["messages"][-1]["content"]:
            answer["body_markdown"] += "\n\nThis paragraph says FLAGME to the moderation model."
        return answer

    fake_openai.override(tamper("lesson", flag_week_two))
    requester = UserFactory()

    course = request(user=requester)

    assert course.status == Course.Status.READY
    assert course.held_for_review
    assert visibility.course_is_withheld(course)
    assert not visibility.course_visible_to(course, requester)
    assert visibility.course_review_notice(course, requester) == visibility.HELD_MESSAGE
    flag = ContentFlag.objects.get()
    assert flag.lesson == Lesson.objects.get(course=course, week__number=2, number=1)
    assert (flag.part_kind, flag.source, flag.code) == ("lesson", ContentFlag.Source.OPENAI, "moderation")
    assert "FLAGME" in flag.excerpt
    hold = AuditEntry.objects.get(course=course)
    assert hold.action == AuditEntry.Action.HOLD
    assert hold.actor is None


def test_a_flagged_reading_holds_its_course_and_flags_the_quiz_it_came_with(fake_openai: FakeOpenAI) -> None:
    def flag_week_three(body: dict[str, Any]) -> Any:
        if "quiz for week 3 " not in body["messages"][-1]["content"]:
            return None
        answer = reply_for(body)  # questions quoting the week's lessons, as usual
        answer["reading_list"][0]["note"] = "A book that says FLAGME to the moderation model."
        return answer

    fake_openai.override(flag_week_three)

    course = request()

    assert course.status == Course.Status.READY
    assert course.held_for_review
    flag = ContentFlag.objects.get()
    assert (flag.part_kind, flag.quiz.week.number, flag.code) == ("quiz", 3, "moderation")
    assert "FLAGME" in flag.excerpt
    assert "FLAGME" in course.weeks.get(number=3).reading_list[0]["note"]  # stored, held for a moderator


def test_an_outline_with_model_chatter_holds_the_course(fake_openai: FakeOpenAI) -> None:
    def chatter(answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        answer["weeks"][2]["overview"] = "As an AI language model, I have planned this week for you."
        return answer

    fake_openai.override(tamper("course_outline", chatter))

    course = request()

    assert course.held_for_review
    flag = ContentFlag.objects.get()
    assert (flag.part_kind, flag.code) == ("outline", "chatter")
    assert flag.detail.startswith("Week 3: ")


def test_the_spend_cap_stops_new_generation_with_a_clear_message(
    fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_DAILY_SPEND_CAP_USD = 1.0
    LLMCall.objects.create(
        stage="lesson", model="gpt-4o", prompt_tokens=0, completion_tokens=100_000, outcome="ok"
    )
    assert costs.spend_today_usd() == pytest.approx(1.0)

    with pytest.raises(review.SpendCapReached) as stopped:
        request()

    assert stopped.value.message == costs.SPEND_CAP_MESSAGE
    assert isinstance(stopped.value, CourseRequestError)
    assert fake_openai.requests == []  # neither moderation nor generation was asked
    assert not Course.objects.exists()


def test_an_approved_course_is_still_offered_when_the_cap_is_reached(settings: Any) -> None:
    settings.LLM_DAILY_SPEND_CAP_USD = 0.01
    LLMCall.objects.create(stage="lesson", model="gpt-4o", completion_tokens=10_000, outcome="ok")
    approved = written_course(weeks=4, topic="Roman aqueducts", review_state=Course.Review.APPROVED)
    approved.topic_key = "roman aqueducts"
    approved.save(update_fields=["topic_key"])

    result = course_request(topic="Roman Aqueducts", language="en", weeks=4, user=None, ip=None)

    assert result.reused
    assert result.course == approved


def test_yesterdays_spend_does_not_count_against_today(settings: Any) -> None:
    settings.LLM_DAILY_SPEND_CAP_USD = 1.0
    call = LLMCall.objects.create(stage="lesson", model="gpt-4o", completion_tokens=1_000_000, outcome="ok")
    LLMCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=1))

    assert not costs.spend_cap_reached()
