"""What the LLM costs: estimated spend per call, per day and per course, the daily cap, and the dashboard.

Prices come from settings.LLM_PRICES_PER_MILLION: US dollars per million (input, cached input, output)
tokens, matched by the longest model-name prefix, so a dated name ("gpt-4o-mini-2024-07-18") finds its
model's price. As in OpenAI's usage, `prompt_tokens` includes `cached_tokens`. Models missing from the table
(the offline generator, moderation) cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Case, Count, F, FloatField, Q, QuerySet, Sum, Value, When
from django.db.models.expressions import Combinable, Expression
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from courses.models import Course, LLMCall

SPEND_CAP_MESSAGE = (
    "Semester has used today's budget for writing new courses, so we can't start yours right now. "
    "Please try again tomorrow; every course already written is still here to read."
)
PER_MILLION = 1_000_000


def model_price(model: str) -> tuple[float, float, float] | None:
    """(input, cached input, output) dollars per million tokens, by the longest matching name prefix."""
    for name in sorted(settings.LLM_PRICES_PER_MILLION, key=len, reverse=True):
        if model.startswith(name):
            return settings.LLM_PRICES_PER_MILLION[name]
    return None


def call_cost_usd(*, model: str, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
    price = model_price(model)
    if price is None:
        return 0.0
    fresh = max(prompt_tokens - cached_tokens, 0)
    return (fresh * price[0] + cached_tokens * price[1] + completion_tokens * price[2]) / PER_MILLION


def cost_expression(prefix: str = "") -> Expression:
    """The same estimate as `call_cost_usd`, in SQL, for an LLMCall reached through `prefix` ("llm_calls__")."""

    def field(name: str) -> F:
        return F(f"{prefix}{name}")

    fresh: Combinable = Greatest(field("prompt_tokens") - field("cached_tokens"), Value(0))
    whens = [
        When(
            **{f"{prefix}model__startswith": name},
            then=(
                fresh * Value(price[0])
                + field("cached_tokens") * Value(price[1])
                + field("completion_tokens") * Value(price[2])
            )
            / Value(float(PER_MILLION)),
        )
        for name, price in sorted(settings.LLM_PRICES_PER_MILLION.items(), key=lambda item: -len(item[0]))
    ]
    return Case(*whens, default=Value(0.0), output_field=FloatField())


def start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def spend_today_usd() -> float:
    """Estimated LLM spend since midnight (in settings.TIME_ZONE), across every course and stage."""
    total = LLMCall.objects.filter(created_at__gte=start_of_today()).aggregate(
        total=Coalesce(Sum(cost_expression()), Value(0.0), output_field=FloatField())
    )["total"]
    return float(total)


def spend_cap_reached() -> bool:
    """True once today's spend reaches settings.LLM_DAILY_SPEND_CAP_USD (0 means no cap).

    Course requests check this before `course_request`, and refuse with SPEND_CAP_MESSAGE.
    """
    cap = settings.LLM_DAILY_SPEND_CAP_USD
    return cap > 0 and spend_today_usd() >= cap


# --- The staff dashboard -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Day:
    day: date
    courses: int
    calls: int
    failures: int
    tokens_in: int  # prompt tokens, cached ones included
    tokens_cached: int
    tokens_out: int
    cost: float


def dashboard_days(*, days: int = 30) -> list[Day]:
    """One row per day, newest first: courses requested, LLM calls, failures, tokens and estimated cost."""
    since = start_of_today() - timedelta(days=days - 1)
    courses = dict(
        Course.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    calls: dict[date, dict[str, Any]] = {
        row["day"]: dict(row)
        for row in LLMCall.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(**_call_totals())
    }
    empty = {
        "calls": 0,
        "failures": 0,
        "tokens_in": 0,
        "tokens_cached": 0,
        "tokens_out": 0,
        "cost": 0.0,
    }
    return [
        Day(day=day, courses=courses.get(day, 0), **{name: calls.get(day, empty)[name] for name in empty})
        for day in (since.date() + timedelta(days=n) for n in reversed(range(days)))
    ]


def _call_totals(prefix: str = "") -> dict[str, Any]:
    return {
        "calls": Count(f"{prefix}id"),
        "failures": Count(f"{prefix}id", filter=~Q(**{f"{prefix}outcome": LLMCall.Outcome.OK})),
        # Named apart from the fields they sum, so the cost expression still reads the fields.
        "tokens_in": Coalesce(Sum(f"{prefix}prompt_tokens"), 0),
        "tokens_cached": Coalesce(Sum(f"{prefix}cached_tokens"), 0),
        "tokens_out": Coalesce(Sum(f"{prefix}completion_tokens"), 0),
        "cost": Coalesce(Sum(cost_expression(prefix)), Value(0.0), output_field=FloatField()),
    }


def dashboard_courses(*, days: int = 30, limit: int = 20) -> QuerySet[Course]:
    """The courses that cost the most in the window, with their calls, tokens and cost."""
    since = start_of_today() - timedelta(days=days - 1)
    return (
        Course.objects.filter(llm_calls__created_at__gte=since)
        .annotate(**_call_totals("llm_calls__"))
        .select_related("requested_by")
        .order_by(F("cost").desc(), F("calls").desc())[:limit]
    )


def dashboard_failures(*, days: int = 30) -> list[dict[str, Any]]:
    """LLM calls that did not succeed, by outcome and stage, most frequent first."""
    since = start_of_today() - timedelta(days=days - 1)
    rows = (
        LLMCall.objects.filter(created_at__gte=since)
        .exclude(outcome=LLMCall.Outcome.OK)
        .values("outcome", "stage")
        .annotate(calls=Count("id"))
        .order_by("-calls", "outcome", "stage")
    )
    labels = dict(LLMCall.Outcome.choices)
    return [{**row, "label": labels.get(row["outcome"], row["outcome"])} for row in rows]


def dashboard_requesters(*, days: int = 30, limit: int = 20) -> list[dict[str, Any]]:
    """Who asks for the most courses: signed-in learners by email, anonymous visitors by IP address."""
    since = start_of_today() - timedelta(days=days - 1)
    rows = (
        Course.objects.filter(created_at__gte=since)
        .values("requested_by__email", "requester_ip")
        .annotate(courses=Count("id", distinct=True), cost=_course_cost_sum())
        .order_by("-courses", "-cost")
    )
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        who = row["requested_by__email"] or row["requester_ip"] or "unknown"
        total = merged.setdefault(
            who, {"who": who, "signed_in": bool(row["requested_by__email"]), "courses": 0, "cost": 0.0}
        )
        total["courses"] += row["courses"]
        total["cost"] += row["cost"]
    return sorted(merged.values(), key=lambda r: (-r["courses"], -r["cost"]))[:limit]


def _course_cost_sum() -> Expression:
    return Coalesce(Sum(cost_expression("llm_calls__")), Value(0.0), output_field=FloatField())
