from __future__ import annotations

from django.contrib import admin

from courses.models import Course, LLMCall


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "review_state", "featured", "language", "weeks_count", "created_at")
    list_filter = ("status", "review_state", "featured", "language")
    search_fields = ("title", "topic")
    readonly_fields = ("id", "created_at", "updated_at", "ready_at", "heartbeat_at")


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "course", "stage", "model", "outcome", "prompt_tokens", "completion_tokens")
    list_filter = ("stage", "outcome", "model")
    list_select_related = ("course",)
