"""The course admin, which is the moderation queue's page: columns, one-click and bulk actions, inlines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from courses.admin import views as admin_views
from courses.admin.queue import NEVER, QueueFilter, queue_annotations
from courses.admin.views import staff
from courses.models import AuditEntry, ContentFlag, Course, LessonReport, QualityReport
from courses.moderation import editing, review
from courses.quality.report import PART_LABELS
from courses.selectors import course_progress
from courses.visibility import course_is_public

Review = Course.Review
QUEUE_EMPTY_MESSAGE = "Nothing waits for a moderator: no course to review, no hold, no open report."


class _RecordInline(admin.TabularInline):
    """A course's records, shown on its page to read: nobody adds, edits or deletes them there."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditEntryInline(_RecordInline):
    model = AuditEntry
    fk_name = "course"
    fields = ("created_at", "actor_label", "action", "from_state", "to_state", "reason")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name_plural = "audit log"


class ContentFlagInline(_RecordInline):
    model = ContentFlag
    fields = ("created_at", "part_kind", "part", "source", "code", "detail", "excerpt", "resolved_at")
    readonly_fields = fields
    verbose_name_plural = "screening flags"

    @admin.display(description="part")
    def part(self, flag: ContentFlag) -> str:
        return str(flag.lesson or flag.quiz or flag.week or "outline")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ContentFlag]:
        return super().get_queryset(request).select_related("week", "lesson", "quiz__week")


class LessonReportInline(_RecordInline):
    model = LessonReport
    fields = ("created_at", "lesson", "reason", "quoted_text", "comment", "source", "resolved_at")
    readonly_fields = fields
    verbose_name_plural = "learner reports"

    def get_queryset(self, request: HttpRequest) -> QuerySet[LessonReport]:
        return super().get_queryset(request).select_related("lesson")


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("title_link", "one_click", "why", "waiting", "quality", "requester", "cost_usd", "state")
    list_display_links = None
    list_filter = (QueueFilter, "status", "review_state", "held_for_review", "featured", "language")
    search_fields = ("title", "topic", "requested_by__email")
    list_per_page = 50
    readonly_fields = (
        "id",
        "review_state",
        "review_reason",
        "featured",
        "held_for_review",
        "status",
        "status_reason",
        "missing_parts",
        "generator",
        "requested_by",
        "requester_ip",
        "notify_email",
        "notified_at",
        "outlined_at",
        "content_version",
        "created_at",
        "updated_at",
        "ready_at",
        "heartbeat_at",
        "quality_report_html",
    )
    exclude = ("topic_key",)
    inlines = (ContentFlagInline, LessonReportInline, AuditEntryInline)
    actions = (
        "approve_selected",
        "feature_selected",
        "unfeature_selected",
        "release_selected",
        "reject_selected",
        "request_changes_selected",
    )
    change_list_template = "admin/courses/course/change_list.html"
    change_form_template = "admin/courses/course/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Course]:
        # Annotated before ordering: the queue is ordered by one of these annotations.
        return (
            Course.objects.annotate(**queue_annotations())
            .order_by(*self.get_ordering(request))
            .select_related("requested_by", "quality_report")
            .prefetch_related(
                Prefetch("flags", ContentFlag.objects.filter(resolved_at__isnull=True), to_attr="open_flags"),
                Prefetch(
                    "reports", LessonReport.objects.filter(resolved_at__isnull=True), to_attr="open_reports"
                ),
            )
        )

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        """The queue is served oldest first; the list of all courses newest first.

        Other admins ask for this ordering too, to order the course choices of their forms, on a queryset without
        the queue's annotations: ordering it by `waiting_since` would fail, so they get the plain order."""
        on_the_list = getattr(request.resolver_match, "url_name", None) == "courses_course_changelist"
        if on_the_list and QueueFilter.shows_queue(request):
            return ("waiting_since", "created_at")
        return ("-created_at",)

    def get_fieldsets(self, request: HttpRequest, obj: Course | None = None) -> Any:
        """Every field as usual, but the outline's JSON, long and rarely read, folded away at the bottom."""
        fields = [field for field in self.get_fields(request, obj) if field != "outline_json"]
        return [
            (None, {"fields": fields}),
            ("Outline (JSON)", {"classes": ["collapse"], "fields": ["outline_json"]}),
        ]

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("courses.moderate_course")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # courses are requested on the site, where they are screened and costed

    def save_model(self, request: HttpRequest, obj: Course, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and form.changed_data:  # a new title or description: the PDF made before is stale
            editing.course_content_changed(course_id=obj.pk)

    # --- Columns ---------------------------------------------------------------------------------------
    @admin.display(description="course", ordering="title")
    def title_link(self, course: Course) -> str:
        url = reverse("admin:courses_course_change", args=[course.pk])
        content = reverse("admin:courses_course_content", args=[course.pk])
        return format_html(
            '<a href="{}">{}</a><br><small>{} · <a href="{}">read &amp; edit</a></small>',
            url,
            course,
            course.topic,
            content,
        )

    @admin.display(description="waiting since", ordering="waiting_since")
    def waiting(self, course: Course) -> str:
        since = getattr(course, "waiting_since", None)
        return "—" if since is None or since >= NEVER else since.strftime("%Y-%m-%d %H:%M")

    @admin.display(description="why it waits")
    def why(self, course: Course) -> str:
        reasons = [(flag.get_part_kind_display(), flag.detail) for flag in getattr(course, "open_flags", [])]
        reasons += [
            ("Report", f"{report.get_reason_display()}: “{report.quoted_text[:80]}”")
            for report in getattr(course, "open_reports", [])
        ]
        if not reasons and course.review_state == Review.PENDING and course.is_ready:
            reasons = [("New", "Written, not yet reviewed")]
        return format_html_join("", "<div><strong>{}</strong> {}</div>", reasons[:6]) or "—"

    @admin.display(description="quality", ordering="quality_report__score")
    def quality(self, course: Course) -> str:
        """The quality score and its two weakest parts; sortable, so the worst courses can come first."""
        quality = getattr(course, "quality_report", None)
        if quality is None or quality.score is None:
            return "—"
        weakest = sorted(quality.parts.items(), key=lambda part: part[1])[:2]
        return format_html(
            "<strong>{}</strong>{}",
            quality.score,
            format_html_join(
                "", "<br><small>{}: {}</small>", ((PART_LABELS.get(n, n), v) for n, v in weakest)
            ),
        )

    @admin.display(description="quality report")
    def quality_report_html(self, course: Course) -> str:
        quality = QualityReport.objects.filter(course=course).first()
        if quality is None:
            return "Not measured yet."
        return render_to_string(
            "admin/courses/_quality_report.html", {"report": quality, "labels": PART_LABELS}
        )

    @admin.display(description="missing parts")
    def missing_parts(self, course: Course) -> str:
        """Each part that failed, with its reason, and the page whose button tries them again."""
        failed = course_progress(course=course).failed_parts
        if not failed:
            return "—"
        rows = format_html_join(
            "", "<div><strong>Week {}: {}</strong> {}</div>", ((p.week, p.title, p.reason) for p in failed)
        )
        retry = reverse("courses:writing", args=[course.pk])
        return format_html('{}<p><a href="{}">Retry them from the progress page</a></p>', rows, retry)

    @admin.display(description="state", ordering="review_state")
    def state(self, course: Course) -> str:
        parts = [course.get_status_display(), course.get_review_state_display()]
        parts += ["held for review"] * course.held_for_review + ["featured"] * course.featured
        return " · ".join(parts)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        shows_queue = QueueFilter.shows_queue(request)
        title = "Moderation queue: what waits, oldest first" if shows_queue else "All courses"
        # The whole queue, not narrowed by a search or another filter: when empty, it says so plainly.
        whole_queue = shows_queue and not set(request.GET) - {QueueFilter.parameter_name, "o", "p"}
        context = {"title": title, "whole_queue": whole_queue, "queue_empty_message": QUEUE_EMPTY_MESSAGE}
        return super().changelist_view(request, {**context, **(extra_context or {})})

    @admin.display(description="requester", ordering="requested_by__email")
    def requester(self, course: Course) -> str:
        return course.requester_label

    @admin.display(description="cost", ordering="cost")
    def cost_usd(self, course: Course) -> str:
        return f"${getattr(course, 'cost', 0.0):.4f}"

    @admin.display(description="moderate")
    def one_click(self, course: Course) -> str:
        """Buttons that submit the list's own form (it carries the CSRF token) to one course's action."""
        buttons = []
        if course.is_ready and (course.review_state != Review.APPROVED or course.held_for_review):
            buttons.append(("approve", "Approve"))
        if course_is_public(course):
            buttons.append(("unfeature", "Unfeature") if course.featured else ("feature", "Feature"))
        html = format_html_join(
            " ",
            '<button type="submit" class="button" formmethod="post" formaction="{}" formnovalidate>{}</button>',
            ((reverse(f"admin:courses_course_{name}", args=[course.pk]), label) for name, label in buttons),
        )
        if course.review_state != Review.REJECTED:  # a reason is needed: a page of its own, reached by GET
            url = reverse("admin:courses_course_reject", args=[course.pk])
            html += format_html(' <a class="button" href="{}">Reject…</a>', url)
        return html

    # --- Bulk actions ----------------------------------------------------------------------------------
    @admin.action(description="Approve selected courses", permissions=["moderate"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Course]) -> None:
        self._apply(request, queryset, "approved", review.course_approve)

    @admin.action(description="Feature selected courses", permissions=["moderate"])
    def feature_selected(self, request: HttpRequest, queryset: QuerySet[Course]) -> None:
        self._apply(request, queryset, "featured", review.course_feature)

    @admin.action(description="Unfeature selected courses", permissions=["moderate"])
    def unfeature_selected(self, request: HttpRequest, queryset: QuerySet[Course]) -> None:
        self._apply(request, queryset, "unfeatured", review.course_unfeature)

    @admin.action(
        description="Release selected courses from hold (stay unpublished)", permissions=["moderate"]
    )
    def release_selected(self, request: HttpRequest, queryset: QuerySet[Course]) -> None:
        self._apply(request, queryset.filter(held_for_review=True), "released", review.course_release)

    @admin.action(description="Reject selected courses…", permissions=["moderate"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Course]) -> HttpResponse | None:
        return self._with_reason(request, queryset, "reject_selected", "Reject", review.course_reject)

    @admin.action(description="Ask for changes to selected courses…", permissions=["moderate"])
    def request_changes_selected(
        self, request: HttpRequest, queryset: QuerySet[Course]
    ) -> HttpResponse | None:
        return self._with_reason(
            request,
            queryset,
            "request_changes_selected",
            "Ask for changes to",
            review.course_request_changes,
        )

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[Course],
        done: str,
        step: Callable[..., Any],
        **arguments: Any,
    ) -> None:
        """Apply one `courses.moderation.review` step (called as `step(course=, actor=, **arguments)`) to each course."""
        changed, errors = 0, []
        for course in queryset:
            try:
                changed += step(course=course, actor=staff(request), **arguments) is not None
            except review.ModerationError as error:
                errors.append(f"{course}: {error}")
        self.message_user(request, f"{changed} course(s) {done}.", messages.SUCCESS)
        for message in errors:
            self.message_user(request, message, messages.WARNING)

    def _with_reason(
        self,
        request: HttpRequest,
        queryset: QuerySet[Course],
        action: str,
        verb: str,
        service: Callable[..., Any],
    ) -> HttpResponse | None:
        """Django's intermediate-page pattern: ask for the reason, then apply it to every selected course."""
        reason = request.POST.get("reason", "").strip()
        if "apply" in request.POST and reason:
            self._apply(request, queryset, "updated", service, reason=reason)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb} {queryset.count()} course(s)",
            "courses": queryset,
            "action": action,
            "verb": verb,
            "error": review.REASON_REQUIRED_MESSAGE if "apply" in request.POST else "",
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/courses/moderation_reason_bulk.html", context)

    # --- Views of our own ------------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        ours = [
            path(route, wrap(view), name=f"courses_{name}") for route, view, name in admin_views.routes(self)
        ]
        return ours + super().get_urls()  # ours first: the default URLs end with a catch-all
