"""Admins for the records around courses: learner reports to resolve, and read-only logs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from courses.admin.views import llm_endpoint_context, staff
from courses.models import AuditEntry, ContentFlag, LessonReport, LLMCall, RefusedTopic
from courses.moderation import review


class ResolvedFilter(admin.SimpleListFilter):
    """Open or resolved, for records with a `resolved_at`: the words moderators use, not "Empty / Not empty"."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("open", "resolved"):
            return queryset.filter(resolved_at__isnull=self.value() == "open")
        return queryset


@admin.register(LessonReport)
class LessonReportAdmin(admin.ModelAdmin):
    list_display = ("created_at", "lesson", "course", "reason", "short_quote", "source", "resolved_at")
    list_filter = (ResolvedFilter, "reason", "source")
    list_select_related = ("lesson", "course")
    search_fields = ("quoted_text", "comment", "lesson__title", "course__title")
    readonly_fields = [field.name for field in LessonReport._meta.fields]
    actions = ("resolve_selected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="quoted")
    def short_quote(self, report: LessonReport) -> str:
        return report.quoted_text[:120]

    @admin.action(description="Mark selected reports resolved", permissions=["change"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[LessonReport]) -> None:
        done = sum(
            review.report_resolve(report=report, actor=staff(request)) is not None
            for report in queryset.select_related("lesson", "course")
        )
        self.message_user(request, f"{done} report(s) resolved.", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record kept for people to read: nobody adds, edits or deletes it here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RefusedTopic)
class RefusedTopicAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "topic", "language", "categories", "source", "requested_by", "requester_ip")
    list_filter = ("source",)
    search_fields = ("topic", "requested_by__email")
    list_select_related = ("requested_by",)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "course", "from_state", "to_state", "reason")
    list_filter = ("action", "to_state")
    search_fields = ("actor_label", "reason", "course__title")
    list_select_related = ("course",)


@admin.register(ContentFlag)
class ContentFlagAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "course", "part_kind", "source", "code", "detail", "resolved_at")
    list_filter = (ResolvedFilter, "source", "code", "part_kind")
    search_fields = ("detail", "excerpt", "course__title")
    list_select_related = ("course",)


@admin.register(LLMCall)
class LLMCallAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "course", "stage", "model", "outcome", "attempt", "short_error")
    list_filter = ("stage", "outcome", "model")
    list_select_related = ("course",)
    search_fields = ("error",)
    change_list_template = "admin/courses/llmcall/change_list.html"

    @admin.display(description="what the server said")
    def short_error(self, call: LLMCall) -> str:
        return call.error[:160]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {**(extra_context or {}), **llm_endpoint_context()})
