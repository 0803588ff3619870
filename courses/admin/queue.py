"""The moderation queue: what waits for a moderator, since when, and the list filter that shows it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import admin
from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least
from django.http import HttpRequest

from courses.models import ContentFlag, Course, LessonReport, LLMCall
from courses.moderation.costs import cost_expression

Review = Course.Review
NEVER = datetime(9999, 1, 1, tzinfo=UTC)  # stands in for "not waiting" so LEAST works on every database


def _open_flags() -> QuerySet[ContentFlag]:
    return ContentFlag.objects.filter(course=OuterRef("pk"), resolved_at__isnull=True)


def _open_reports() -> QuerySet[LessonReport]:
    return LessonReport.objects.filter(course=OuterRef("pk"), resolved_at__isnull=True)


def _first(queryset: QuerySet[Any]) -> Subquery:
    return Subquery(queryset.order_by("created_at").values("created_at")[:1], output_field=DateTimeField())


def waiting_q() -> Q:
    """What waits for a moderator: written and pending review, held by screening, or reported."""
    return (
        Q(review_state=Review.PENDING, status=Course.Status.READY)
        | Q(held_for_review=True)
        | Q(Exists(_open_reports()))
    )


def queue_annotations() -> dict[str, Any]:
    cost = (
        LLMCall.objects.filter(course=OuterRef("pk"))
        .values("course")
        .annotate(total=Sum(cost_expression()))
        .values("total")
    )
    pending_since = Case(
        # A held course waits from its first open flag, even if it was written long ago.
        When(
            review_state=Review.PENDING,
            status=Course.Status.READY,
            held_for_review=False,
            then=Coalesce("ready_at", "created_at"),
        ),
        default=Value(NEVER),
        output_field=DateTimeField(),
    )
    return {
        "cost": Coalesce(Subquery(cost, output_field=FloatField()), Value(0.0)),
        "waiting_since": Least(
            pending_since,
            Coalesce(_first(_open_flags()), Value(NEVER)),
            Coalesce(_first(_open_reports()), Value(NEVER)),
        ),
    }


class QueueFilter(admin.SimpleListFilter):
    """Defaults to the queue; "All courses" shows everything, newest first."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", "Waiting for a moderator"), ("all", "All courses")]

    def value(self) -> str:
        return super().value() or "waiting"

    @classmethod
    def shows_queue(cls, request: HttpRequest) -> bool:
        """Whether the course list shows the queue (the default) rather than every course."""
        return request.GET.get(cls.parameter_name, "waiting") == "waiting"

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Course]) -> QuerySet[Course]:
        return queryset.filter(waiting_q()) if self.value() == "waiting" else queryset
