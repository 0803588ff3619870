"""What the LLM costs: estimated spend per call, per day and per course, the daily cap, and the dashboard.

Prices come from settings.LLM_PRICES_PER_MILLION: US dollars per million (input, cached input, output)
tokens, matched by the longest model-name prefix, so a dated name ("gpt-4o-mini-2024-07-18") finds its
model's price. As in OpenAI's usage, `prompt_tokens` includes `cached_tokens`. Models missing from the table
(the offline generator, moderation) cost nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db.models import Case, Count, F, FloatField, Q, QuerySet, Sum, Value, When
from django.db.models.expressions import Combinable, Expression
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone
from redis.commands.core import Script

from courses.models import ANONYMOUS_REQUESTER, Course, LLMCall
from school.redis_client import redis_client

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
    return sum(
        usage.cost for usage in _usage_by(LLMCall.objects.filter(created_at__gte=start_of_today())).values()
    )


def spend_cap_reached() -> bool:
    """True once today's spend reaches settings.LLM_DAILY_SPEND_CAP_USD (0 means no cap).

    Course requests check this before `course_request`, and refuse with SPEND_CAP_MESSAGE.
    """
    cap = settings.LLM_DAILY_SPEND_CAP_USD
    return cap > 0 and spend_today_usd() >= cap


# --- Usage, summed by model in SQL and priced here -------------------------------------------------------
# Summing tokens per model and pricing the few sums is far cheaper than pricing every row in SQL; it is exact
# because a call's cached tokens never exceed its prompt tokens.
@dataclass
class Usage:
    calls: int = 0
    failures: int = 0
    tokens_in: int = 0  # prompt tokens, cached ones included
    tokens_cached: int = 0
    tokens_out: int = 0
    cost: float = 0.0

    def add(self, row: dict[str, Any]) -> None:
        self.calls += row["calls"]
        self.failures += row["failures"]
        self.tokens_in += row["tokens_in"]
        self.tokens_cached += row["tokens_cached"]
        self.tokens_out += row["tokens_out"]
        self.cost += call_cost_usd(
            model=row["model"],
            prompt_tokens=row["tokens_in"],
            cached_tokens=row["tokens_cached"],
            completion_tokens=row["tokens_out"],
        )


def _usage_by(calls: QuerySet[LLMCall], *keys: str) -> dict[tuple[Any, ...], Usage]:
    """Usage per distinct value of the `keys` fields (one entry, under (), when there are none)."""
    rows = calls.values(*keys, "model").annotate(
        calls=Count("id"),
        failures=Count("id", filter=~Q(outcome=LLMCall.Outcome.OK)),
        # Named apart from the fields they sum.
        tokens_in=Coalesce(Sum("prompt_tokens"), 0),
        tokens_cached=Coalesce(Sum("cached_tokens"), 0),
        tokens_out=Coalesce(Sum("completion_tokens"), 0),
    )
    totals: dict[tuple[Any, ...], Usage] = {}
    for row in rows.order_by():
        totals.setdefault(tuple(row[name] for name in keys), Usage()).add(row)
    return totals


def _window(days: int) -> datetime:
    return start_of_today() - timedelta(days=days - 1)


# --- The staff dashboard -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Day:
    day: date
    courses: int
    usage: Usage


def dashboard_days(*, days: int = 30) -> list[Day]:
    """One row per day, newest first: courses requested, LLM calls, failures, tokens and estimated cost."""
    since = _window(days)
    courses = dict(
        Course.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    calls = LLMCall.objects.filter(created_at__gte=since).annotate(day=TruncDate("created_at"))
    usage = {key[0]: item for key, item in _usage_by(calls, "day").items()}
    return [
        Day(day=day, courses=courses.get(day, 0), usage=usage.get(day, Usage()))
        for day in (since.date() + timedelta(days=n) for n in reversed(range(days)))
    ]


@dataclass(frozen=True)
class CourseUsage:
    course: Course
    usage: Usage


def dashboard_courses(*, days: int = 30, limit: int = 20) -> list[CourseUsage]:
    """The courses that cost the most in the window, with their calls, tokens and cost."""
    calls = LLMCall.objects.filter(created_at__gte=_window(days), course__isnull=False)
    ranked = sorted(_usage_by(calls, "course_id").items(), key=lambda pair: (-pair[1].cost, -pair[1].calls))
    top = ranked[:limit]
    courses = Course.objects.select_related("requested_by").in_bulk([key[0] for key, _ in top])
    return [CourseUsage(courses[key[0]], usage) for key, usage in top]


def dashboard_stages(*, days: int = 30) -> list[dict[str, Any]]:
    """Usage per stage in the window (outline, lesson, quiz, moderation, tutor, …), the most expensive first."""
    calls = LLMCall.objects.filter(created_at__gte=_window(days))
    by_stage = [{"stage": key[0], "usage": usage} for key, usage in _usage_by(calls, "stage").items()]
    return sorted(by_stage, key=lambda row: (-row["usage"].cost, -row["usage"].calls, row["stage"]))


def dashboard_failures(*, days: int = 30) -> list[dict[str, Any]]:
    """LLM calls that did not succeed, by outcome and stage, most frequent first."""
    rows = (
        LLMCall.objects.filter(created_at__gte=_window(days))
        .exclude(outcome=LLMCall.Outcome.OK)
        .values("outcome", "stage")
        .annotate(calls=Count("id"))
        .order_by("-calls", "outcome", "stage")
    )
    labels = dict(LLMCall.Outcome.choices)
    return [{**row, "label": labels.get(row["outcome"], row["outcome"])} for row in rows]


def dashboard_requesters(*, days: int = 30, limit: int = 20) -> list[dict[str, Any]]:
    """Who asks for the most courses in the window (signed-in learners by email, every anonymous visitor on one
    "anonymous" row: staff pages show no IP address), with what their courses' LLM calls cost in the window."""
    since = _window(days)
    requested = (
        Course.objects.filter(created_at__gte=since)
        .values_list("requested_by__email")
        .annotate(n=Count("id"))
        .order_by()
    )
    calls = LLMCall.objects.filter(created_at__gte=since, course__isnull=False)
    spent = _usage_by(calls, "course__requested_by__email")
    totals: dict[str, dict[str, Any]] = {}

    def total(email: str | None) -> dict[str, Any]:
        who = email or ANONYMOUS_REQUESTER
        return totals.setdefault(who, {"who": who, "signed_in": bool(email), "courses": 0, "cost": 0.0})

    for email, count in requested:
        total(email)["courses"] += count
    for (email,), usage in spent.items():
        total(email)["cost"] += usage.cost
    return sorted(totals.values(), key=lambda row: (-row["courses"], -row["cost"]))[:limit]


# --- The cap, enforced where money is spent ----------------------------------------------------------------
# Checking the cap when a course is requested is not enough: 50 requests accepted at once all write their
# ~58 parts. So every LLM call reserves its worst case (the whole prompt at the input price, its max tokens at
# the output price) against today's counter in Redis before it is sent, atomically, and settles to its real
# cost after. The counter is seeded from the recorded calls the first time a day is touched. A call that does
# not fit is never sent (SpendCapReached): its course pauses, and the sweeper resumes it when budget returns.
PAUSED_FOR_BUDGET = (
    "Paused: today's writing budget is spent. Writing resumes by itself when there is budget again "
    "(at midnight at the latest)."
)
CHARS_PER_TOKEN = 3  # fewer characters per token than English averages (~4): the estimate errs high
MICRO = 1_000_000  # the counter holds millionths of a dollar, as an integer Redis can add atomically
SPEND_KEY = "llm:spend-micro:{day}"
RESERVE_SCRIPT = """
local want, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if cap > 0 and spent + want > cap then return -1 end
return redis.call('INCRBY', KEYS[1], want)
"""


class SpendCapReached(Exception):
    """Today's budget cannot cover this call's worst case: it was not sent."""


@dataclass(frozen=True)
class Reservation:
    key: str
    micro: int  # what was reserved; 0 for a call that costs nothing (offline, unpriced models)


def call_worst_case_usd(*, model: str, prompt_chars: int, max_tokens: int) -> float:
    """The most a call can cost: every prompt token uncached, every allowed output token used."""
    prompt_tokens = prompt_chars // CHARS_PER_TOKEN + 1
    return call_cost_usd(
        model=model, prompt_tokens=prompt_tokens, cached_tokens=0, completion_tokens=max_tokens
    )


def spend_reserve(*, model: str, prompt_chars: int, max_tokens: int) -> Reservation:
    """Reserve the call's worst case against today's budget, or raise SpendCapReached."""
    micro = round(call_worst_case_usd(model=model, prompt_chars=prompt_chars, max_tokens=max_tokens) * MICRO)
    key = SPEND_KEY.format(day=start_of_today().date().isoformat())
    if micro <= 0:
        return Reservation(key, 0)
    cap = round(settings.LLM_DAILY_SPEND_CAP_USD * MICRO)
    if _spend_counter(key, cap=cap, add=micro) < 0:
        raise SpendCapReached(SPEND_CAP_MESSAGE)
    return Reservation(key, micro)


def spend_settle(*, reservation: Reservation, model: str, usage: Any) -> None:
    """Replace the reservation by what the call really cost (`usage`: its token counts; None if unknown,
    when the call is taken to have cost nothing, as the recorded calls count it)."""
    if not reservation.micro:
        return
    real = 0.0
    if usage is not None:
        real = call_cost_usd(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens,
        )
    _spend_counter(reservation.key, cap=0, add=round(real * MICRO) - reservation.micro)


def spend_reserved_today_usd() -> float:
    """Today's counter: settled spend plus the reservations of calls in flight."""
    key = SPEND_KEY.format(day=start_of_today().date().isoformat())
    return _spend_counter(key, cap=0, add=0) / MICRO


def spend_budget_left() -> bool:
    """Whether today's counter (spend and calls in flight) is under the cap, or there is no cap."""
    cap = settings.LLM_DAILY_SPEND_CAP_USD
    return cap <= 0 or spend_reserved_today_usd() < cap


def _spend_counter(key: str, *, cap: int, add: int) -> int:
    """Add `add` to the counter unless that passes `cap` (> 0): the new total, or -1 when refused."""
    if not settings.REDIS_URL:
        with _local_lock:
            spent = _local_spend.setdefault(key, _seed())
            if cap > 0 and add > 0 and spent + add > cap:
                return -1
            _local_spend[key] = spent + add
            return spent + add
    client = redis_client(settings.REDIS_URL)
    if not client.exists(key):
        client.set(key, _seed(), nx=True, ex=2 * 24 * 3600)  # nx: only the first of racing workers seeds it
    return int(_reserve_script(settings.REDIS_URL)(keys=[key], args=[add, cap if add > 0 else 0]))


def _seed() -> int:
    return round(spend_today_usd() * MICRO)


_local_lock = threading.Lock()
_local_spend: dict[str, int] = {}


@cache
def _reserve_script(url: str) -> Script:
    return redis_client(url).register_script(RESERVE_SCRIPT)


@dataclass(frozen=True)
class Bar:
    day: date
    cost: float
    calls: int
    x: float
    y: float
    width: float
    height: float


CHART_WIDTH, CHART_HEIGHT, CHART_GAP = 600, 160, 2


def dashboard_chart(*, days: list[Day]) -> list[Bar]:
    """The daily cost as bars of an SVG chart (oldest on the left), in a CHART_WIDTH × CHART_HEIGHT viewBox the
    template draws: a picture rendered on the server, with no chart service or script. The tallest bar fills the
    height; a day with calls but no cost (the offline generator) still shows a one-unit sliver."""
    ordered = sorted(days, key=lambda day: day.day)
    top = max((day.usage.cost for day in ordered), default=0.0)
    width = CHART_WIDTH / max(len(ordered), 1)
    bars = []
    for n, day in enumerate(ordered):
        height = CHART_HEIGHT * day.usage.cost / top if top else 0.0
        if day.usage.calls and height < 1:
            height = 1.0
        bars.append(
            Bar(
                day.day,
                day.usage.cost,
                day.usage.calls,
                n * width,
                CHART_HEIGHT - height,
                width - CHART_GAP,
                height,
            )
        )
    return bars
