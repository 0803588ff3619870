"""Delivery in the admin: subscriptions, the ledger, SendGrid's events, suppressions, and a health page
(per course and week: sent, failed, bounced; the 7-day complaint rate with its warning and pause)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from delivery.email import health, subscriptions
from delivery.models import Delivery, EmailEvent, InboundEmail, Subscription, Suppression

PAUSED_MESSAGE = "{count} of {total} subscription(s) paused (only active ones can be)."
RESUMED_MESSAGE = "{count} of {total} subscription(s) resumed (only paused ones can be)."


class _WarnsAboutComplaints(admin.ModelAdmin):
    """Lists that show the spam-complaint warning (or the pause) above them."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        rate = health.complaint_rate()
        if rate.paused:
            messages.error(request, rate.message)
        elif rate.warning:
            messages.warning(request, rate.message)
        return super().changelist_view(request, extra_context)


@admin.register(Subscription)
class SubscriptionAdmin(_WarnsAboutComplaints):
    list_display = ("email", "course", "status", "next_week", "next_send_at", "schedule", "stop_reason")
    list_filter = ("status", "weekday")
    search_fields = ("email", "course__title")
    list_select_related = ("course",)
    raw_id_fields = ("user", "course")
    readonly_fields = (
        "created_at",
        "confirmed_at",
        "paused_at",
        "ended_at",
        "last_dispatched_at",
        "requester_ip",
    )
    actions = ("pause", "resume")

    @admin.display(description="schedule", ordering="weekday")
    def schedule(self, subscription: Subscription) -> str:
        """One column for three fields, so the list fits: "Monday 08:00 Europe/Berlin"."""
        return f"{subscription.get_weekday_display()} {subscription.send_time:%H:%M} {subscription.timezone}"

    @admin.action(description="Pause the selected subscriptions")
    def pause(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._apply(request, queryset, subscriptions.subscription_pause, PAUSED_MESSAGE)

    @admin.action(description="Resume the selected subscriptions (no catch-up)")
    def resume(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._apply(request, queryset, subscriptions.subscription_resume, RESUMED_MESSAGE)

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[Subscription],
        service: Callable[..., Subscription],
        message: str,
    ) -> None:
        """Apply `service` to each subscription and say how many it changed (it leaves the others alone)."""
        subscriptions = list(queryset)
        changed = sum(
            service(subscription=subscription).status != subscription.status for subscription in subscriptions
        )
        self.message_user(request, message.format(count=changed, total=len(subscriptions)), messages.SUCCESS)


class _KeptRecord(admin.ModelAdmin):
    """What was sent and what SendGrid said: written by the dispatcher and the webhook, never by hand here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(_KeptRecord, _WarnsAboutComplaints):
    list_display = ("id", "subscription", "course", "week_number", "status", "attempts", "sent_at", "error")
    list_filter = ("status", "week_number")
    search_fields = ("subscription__email", "message_id")
    list_select_related = ("subscription", "course")
    raw_id_fields = ("subscription", "course")
    date_hierarchy = "created_at"
    change_list_template = "admin/delivery/delivery/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        health_view = self.admin_site.admin_view(self.health_view)
        return [path("health/", health_view, name="delivery_health"), *super().get_urls()]

    def health_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):  # every link on it leads to the deliveries
            raise PermissionDenied
        course_id = request.GET.get("course") or None
        context = {
            **self.admin_site.each_context(request),
            "title": "Delivery health",
            "opts": self.model._meta,
            "complaints": health.complaint_rate(),
            "unsubscribes": health.unsubscribes_recent(),
            "courses": health.delivery_counts_by_course(),
            "weeks": health.delivery_counts_by_week(course_id=course_id) if course_id else None,
            "course_id": course_id,
        }
        return TemplateResponse(request, "admin/delivery/health.html", context)


@admin.register(EmailEvent)
class EmailEventAdmin(_KeptRecord):
    list_display = ("occurred_at", "kind", "email", "delivery")
    list_filter = ("kind",)
    search_fields = ("email", "sg_event_id")
    raw_id_fields = ("delivery",)
    date_hierarchy = "occurred_at"


@admin.register(InboundEmail)
class InboundEmailAdmin(_KeptRecord):
    """Replies to the weekly email: asked of the tutor, answered, or ignored (and why)."""

    list_display = ("received_at", "sender", "subject", "outcome", "reason", "replied_at")
    list_filter = ("outcome",)
    search_fields = ("sender", "message_id", "subject")
    raw_id_fields = ("subscription", "week", "tutor_message")
    date_hierarchy = "received_at"


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("email", "reason", "created_at")
    list_filter = ("reason",)
    search_fields = ("email",)
