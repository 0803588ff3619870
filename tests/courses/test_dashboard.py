"""Estimated LLM cost, the daily spend cap and the superusers' cost dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from courses.models import Course, LLMCall
from courses.moderation import costs
from tests.factories import CourseFactory, UserFactory

pytestmark = pytest.mark.django_db


def call(course: Course | None = None, *, days_ago: int = 0, **fields: Any) -> LLMCall:
    fields.setdefault("stage", "lesson")
    fields.setdefault("model", "gpt-4o-mini")
    fields.setdefault("outcome", LLMCall.Outcome.OK)
    row = LLMCall.objects.create(course=course, **fields)
    if days_ago:
        LLMCall.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return row


def test_prices_match_the_longest_model_name_prefix_and_cached_input_is_cheaper() -> None:
    assert costs.model_price("gpt-4o-mini-2024-07-18") == (0.15, 0.075, 0.60)
    assert costs.model_price("gpt-4o-2024-08-06") == (2.50, 1.25, 10.00)
    assert costs.model_price("offline") is None
    # 1M prompt tokens of which 400k cached, 100k output, on gpt-4o-mini:
    cost = costs.call_cost_usd(
        model="gpt-4o-mini", prompt_tokens=1_000_000, cached_tokens=400_000, completion_tokens=100_000
    )
    assert cost == pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 0.1 * 0.60)
    assert (
        costs.call_cost_usd(model="offline", prompt_tokens=10**6, cached_tokens=0, completion_tokens=10**6)
        == 0
    )


def test_the_sql_estimate_agrees_with_the_python_one() -> None:
    rows = [
        call(
            model="gpt-4o-mini-2024-07-18", prompt_tokens=12_345, cached_tokens=2_000, completion_tokens=999
        ),
        call(model="gpt-4o", prompt_tokens=50_000, cached_tokens=50_000, completion_tokens=10),
        call(model="gpt-4.1-mini", prompt_tokens=7, completion_tokens=70_000),
        call(model="offline", prompt_tokens=10**6, completion_tokens=10**6),
    ]
    expected = sum(
        costs.call_cost_usd(
            model=row.model,
            prompt_tokens=row.prompt_tokens,
            cached_tokens=row.cached_tokens,
            completion_tokens=row.completion_tokens,
        )
        for row in rows
    )

    assert costs.spend_today_usd() == pytest.approx(expected)


def test_the_cap_is_reached_once_todays_spend_meets_it(settings: Any) -> None:
    settings.LLM_DAILY_SPEND_CAP_USD = 1.20
    call(model="gpt-4o-mini", completion_tokens=1_000_000)  # $0.60
    assert not costs.spend_cap_reached()
    call(model="gpt-4o-mini", completion_tokens=1_000_000, days_ago=1)  # yesterday's does not count
    assert not costs.spend_cap_reached()
    call(model="gpt-4o-mini", completion_tokens=1_000_000)
    assert costs.spend_cap_reached()
    settings.LLM_DAILY_SPEND_CAP_USD = 0  # no cap
    assert not costs.spend_cap_reached()


def test_the_dashboard_sums_per_day_per_course_failures_and_requesters() -> None:
    ada = UserFactory(email="ada@example.org")
    big = CourseFactory(requested_by=ada)
    small = CourseFactory(requested_by=ada)
    anonymous = CourseFactory(requester_ip="198.51.100.7")
    CourseFactory(requester_ip="203.0.113.9")  # another visitor: both on the one "anonymous" row
    call(big, prompt_tokens=1_000_000)  # $0.15
    call(big, completion_tokens=1_000_000, days_ago=2)  # $0.60
    call(small, completion_tokens=10_000)
    call(anonymous, outcome=LLMCall.Outcome.RATE_LIMITED)
    call(anonymous, outcome=LLMCall.Outcome.RATE_LIMITED, stage="quiz")
    call(anonymous, outcome=LLMCall.Outcome.TIMEOUT)

    days = costs.dashboard_days(days=7)
    assert len(days) == 7
    today, two_days_ago = days[0], days[2]
    assert (today.courses, today.usage.calls, today.usage.failures) == (4, 5, 3)
    assert today.usage.tokens_in == 1_000_000
    assert today.usage.cost == pytest.approx(0.15 + 0.006)
    assert two_days_ago.usage.cost == pytest.approx(0.60)
    top = costs.dashboard_courses(days=7)
    assert [row.course.pk for row in top] == [big.pk, small.pk, anonymous.pk]
    assert (top[0].usage.calls, top[0].usage.cost) == (2, pytest.approx(0.75))
    failures = costs.dashboard_failures(days=7)
    assert [(row["outcome"], row["stage"], row["calls"]) for row in failures] == [
        ("rate_limited", "lesson", 1),
        ("rate_limited", "quiz", 1),
        ("timeout", "lesson", 1),
    ]
    requesters = costs.dashboard_requesters(days=7)
    assert requesters[0]["who"] == "ada@example.org"
    assert requesters[0]["courses"] == 2
    assert requesters[0]["cost"] == pytest.approx(0.756)
    assert requesters[1] == {"who": "anonymous", "signed_in": False, "courses": 2, "cost": 0.0}


def test_the_dashboard_page_shows_the_spend_and_the_cap(client: Client, settings: Any) -> None:
    settings.LLM_DAILY_SPEND_CAP_USD = 0.10
    call(CourseFactory(title="Roman aqueducts"), completion_tokens=1_000_000)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get(reverse("admin:courses_dashboard")).content.decode()

    assert "$0.6000" in page
    assert "<th>Output tokens</th>" in page
    assert "<td>1,000,000</td>" in page  # tokens, grouped to be read at a glance
    assert "<td>gpt-4o-mini</td><td>$0.150</td><td>$0.075</td><td>$0.600</td>" in page  # per million tokens
    assert "Roman aqueducts" in page
    assert "The cap is reached" in page
    assert escape(costs.SPEND_CAP_MESSAGE) in page


def test_the_dashboard_shows_each_stages_spend_the_tutor_among_them(client: Client) -> None:
    course = CourseFactory()
    call(course, completion_tokens=1_000_000)
    call(course, stage="tutor", prompt_tokens=2_000_000, completion_tokens=500_000)
    call(course, stage="tutor", outcome=LLMCall.Outcome.TIMEOUT)
    stages = {row["stage"]: row["usage"] for row in costs.dashboard_stages()}
    assert stages["tutor"].calls == 2
    assert stages["tutor"].failures == 1
    assert stages["tutor"].cost == pytest.approx(2 * 0.15 + 0.5 * 0.60)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:courses_dashboard")).content.decode()
    assert ">Per stage</h2>" in page
    assert "<td>tutor</td><td>2</td><td>1</td><td>2,000,000</td><td>500,000</td><td>$0.6000</td>" in page


def test_the_chart_has_a_bar_per_day_oldest_first_the_dearest_filling_the_height() -> None:
    call(CourseFactory(), completion_tokens=1_000_000)  # $0.60 today
    call(CourseFactory(), completion_tokens=500_000, days_ago=2)  # $0.30
    call(CourseFactory(), days_ago=1)  # a call that cost nothing still shows

    bars = costs.dashboard_chart(days=costs.dashboard_days(days=7))

    assert [bar.day for bar in bars] == sorted(bar.day for bar in bars)
    assert len(bars) == 7
    today, yesterday, two_days_ago = bars[-1], bars[-2], bars[-3]
    assert (today.height, today.y) == (costs.CHART_HEIGHT, 0)
    assert two_days_ago.height == pytest.approx(costs.CHART_HEIGHT / 2)
    assert yesterday.height == 1
    assert bars[0].height == 0
    assert bars[-1].x + bars[-1].width <= costs.CHART_WIDTH


def test_the_dashboard_draws_the_chart_and_names_no_anonymous_requester_by_ip(client: Client) -> None:
    call(CourseFactory(title="Roman aqueducts", requester_ip="198.51.100.7"), completion_tokens=1_000_000)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get(reverse("admin:courses_dashboard")).content.decode()

    assert '<svg viewBox="0 -14 600 190" role="img"' in page
    assert page.count('<rect class="bar"') == 30
    assert "$0.6000, 1 call</title>" in page
    assert "198.51.100.7" not in page
    assert "<td>anonymous</td>" in page
