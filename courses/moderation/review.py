"""Moderation services: review transitions, screening gates and holds, learner reports, the moderators role.

Every change a person (or screening) makes to a course's review leaves an `AuditEntry` (who, when, from which
state to which, why). Editing parts and their revisions is in `courses.moderation.editing`; regeneration in
`courses.moderation.regeneration`; who may see a course in `courses.visibility`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from courses.errors import CourseRequestError
from courses.models import (
    AuditEntry,
    ContentFlag,
    Course,
    Lesson,
    LessonReport,
    PartKind,
    PartRevision,
    Quiz,
    RefusedTopic,
    Week,
)
from courses.moderation import costs, screening
from courses.visibility import course_is_public
from school.queue import enqueue_after_commit

if TYPE_CHECKING:
    from courses.generation.schemas import CourseOutline, WeekReplan

Review = Course.Review
Action = AuditEntry.Action
Part = Week | Lesson | Quiz
# The parts a moderator or requester edits, regenerates and restores, by the kind named in URLs and revisions.
PART_MODELS: dict[str, type[Week] | type[Lesson] | type[Quiz]] = {
    PartKind.WEEK: Week,
    PartKind.LESSON: Lesson,
    PartKind.QUIZ: Quiz,
}

NOT_READY_MESSAGE = "Only a course that has finished writing can be approved."
REASON_REQUIRED_MESSAGE = "Give a reason: the requester will read it."
FEATURE_NEEDS_APPROVAL_MESSAGE = "Only an approved course that is not held for review can be featured."
NOT_HELD_MESSAGE = "This course is not held for review."
TOPIC_REFUSED_MESSAGE = (
    "Sorry, we can't write a course on that topic: it looks like a request for harmful content. "
    "Semester writes courses for learning. If we got it wrong, try describing what you want to learn "
    "in other words."
)
REPORT_REASON_INVALID = "Choose what is wrong with the lesson: wrong, offensive or broken."
SYSTEM_ACTOR = "Semester (screening)"
QUALITY_REPORT_TASK = "courses.tasks.quality_report"
COMMENT_MAX_CHARS = 2000
QUOTE_MAX_CHARS = 2000


class ModerationError(ValueError):
    """A moderation step that cannot be taken; the message is safe to show the person who tried."""


class TopicRefused(CourseRequestError):
    """Screening refused a requested topic; nothing was generated or spent."""

    def __init__(self) -> None:
        super().__init__("topic", TOPIC_REFUSED_MESSAGE)


class SpendCapReached(CourseRequestError):
    """Today's LLM budget is spent; no new generation starts until tomorrow."""

    def __init__(self) -> None:
        super().__init__("__all__", costs.SPEND_CAP_MESSAGE)


# --- Review transitions --------------------------------------------------------------------------------
def course_approve(*, course: Course, actor: User, reason: str = "") -> AuditEntry | None:
    """Approve a written course for the catalogue; this also clears a hold and its open flags."""
    with transaction.atomic():
        locked = _lock(course)
        if locked.status != Course.Status.READY:
            raise ModerationError(NOT_READY_MESSAGE)
        if locked.review_state == Review.APPROVED and not locked.held_for_review:
            return None
        _resolve_flags(locked, actor)
        entry = _move(
            locked, actor, Action.APPROVE, Review.APPROVED, reason, review_reason="", held_for_review=False
        )
    _copy_review_fields(locked, course)
    return entry


def course_reject(*, course: Course, actor: User, reason: str) -> AuditEntry | None:
    """Hide a course for good; its requester sees `reason`."""
    return _move_with_reason(course, actor, Action.REJECT, Review.REJECTED, reason)


def course_request_changes(*, course: Course, actor: User, reason: str) -> AuditEntry | None:
    """Keep a course out of the catalogue until what `reason` asks for is fixed."""
    return _move_with_reason(course, actor, Action.REQUEST_CHANGES, Review.NEEDS_CHANGES, reason)


def course_feature(*, course: Course, actor: User) -> AuditEntry | None:
    with transaction.atomic():
        locked = _lock(course)
        if not course_is_public(locked):
            raise ModerationError(FEATURE_NEEDS_APPROVAL_MESSAGE)
        if locked.featured:
            return None
        entry = _move(locked, actor, Action.FEATURE, locked.review_state, "", featured=True)
    _copy_review_fields(locked, course)
    return entry


def course_unfeature(*, course: Course, actor: User) -> AuditEntry | None:
    with transaction.atomic():
        locked = _lock(course)
        if not locked.featured:
            return None
        entry = _move(locked, actor, Action.UNFEATURE, locked.review_state, "", featured=False)
    _copy_review_fields(locked, course)
    return entry


def course_release(*, course: Course, actor: User, reason: str = "") -> AuditEntry:
    """Clear a hold without publishing: the flags were wrong or are fixed; the course stays unpublished."""
    with transaction.atomic():
        locked = _lock(course)
        if not locked.held_for_review:
            raise ModerationError(NOT_HELD_MESSAGE)
        _resolve_flags(locked, actor)
        entry = _move(locked, actor, Action.RELEASE, locked.review_state, reason, held_for_review=False)
    _copy_review_fields(locked, course)
    return entry


def _move_with_reason(
    course: Course, actor: User, action: str, to_state: str, reason: str
) -> AuditEntry | None:
    reason = reason.strip()
    if not reason:
        raise ModerationError(REASON_REQUIRED_MESSAGE)
    with transaction.atomic():
        locked = _lock(course)
        if locked.review_state == to_state and locked.review_reason == reason:
            return None
        entry = _move(locked, actor, action, to_state, reason, review_reason=reason, featured=False)
    _copy_review_fields(locked, course)
    return entry


def _lock(course: Course) -> Course:
    return Course.objects.select_for_update().get(pk=course.pk)


def _move(
    course: Course, actor: User | None, action: str, to_state: str, reason: str, **changes: Any
) -> AuditEntry:
    """Save a locked course's new review fields and record the step in the audit log."""
    from_state = course.review_state
    course.review_state = to_state
    fields = {"review_state"}
    for name, value in changes.items():
        setattr(course, name, value)
        fields.add(name)
    course.save(update_fields=[*sorted(fields), "updated_at"])
    return audit_record(course=course, actor=actor, action=action, from_state=from_state, reason=reason)


def _copy_review_fields(source: Course, target: Course) -> None:
    """Let the caller's instance see what the locked copy saved."""
    for name in ("review_state", "review_reason", "featured", "held_for_review"):
        setattr(target, name, getattr(source, name))


def _resolve_flags(course: Course, actor: User | None) -> None:
    resolved = ContentFlag.objects.filter(course=course, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor
    )
    if resolved:
        _quality_report_queue(course)


def _quality_report_queue(course: Course) -> None:
    """The quality report counts open flags (`courses.quality.report`): measure a written course again when
    they change (one still being written is measured once it is done). The task is named, not imported: the
    report module holds courses through this one, so importing it here would make a cycle."""
    if course.status in (Course.Status.READY, Course.Status.INCOMPLETE):
        enqueue_after_commit(QUALITY_REPORT_TASK, str(course.pk))


def audit_record(
    *,
    course: Course,
    actor: User | None,
    action: str,
    from_state: str | None = None,
    reason: str = "",
    revision: PartRevision | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        course=course,
        actor=actor,
        actor_label=actor.email if actor else SYSTEM_ACTOR,
        action=action,
        from_state=from_state or course.review_state,
        to_state=course.review_state,
        reason=reason,
        revision=revision,
    )


# --- Screening: refused topics and held courses --------------------------------------------------------
def topic_admit(
    *, topic: str, language: str = "", user: User | None = None, ip: str | None = None
) -> screening.ScreeningResult:
    """Screen a requested topic; refuse it (and keep it as a RefusedTopic for admins) if flagged."""
    result = screening.topic_screen(topic=topic)
    if result.flagged:
        RefusedTopic.objects.create(
            topic=topic,
            language=language,
            requested_by=user if user and user.is_authenticated else None,
            requester_ip=ip,
            source=result.moderated_by,
            categories=result.categories or sorted({finding.code for finding in result.findings}),
        )
        raise TopicRefused()
    return result


def part_screen_and_hold(*, part: Course | Part) -> screening.ScreeningResult:
    """Screen a part just written (the course row stands for its outline); hold the course if flagged."""
    result = screening.part_screen(part=part)
    if result.flagged:
        course_hold(part=part, findings=result.findings)
    return result


def outline_screen_and_hold(*, course: Course, outline: CourseOutline) -> screening.ScreeningResult:
    """Screen an outline before it is stored, so a flagged course is held before any of it can be read."""
    result = screening.outline_screen(course=course, outline=outline)
    if result.flagged:
        course_hold(part=course, findings=result.findings)
    return result


def week_plan_screen_and_hold(*, week: Week, plan: WeekReplan) -> screening.ScreeningResult:
    """Screen a week planned again before it is stored; hold the course (flagging the week) if flagged."""
    result = screening.week_plan_screen(course=week.course, number=week.number, plan=plan)
    if result.flagged:
        course_hold(part=week, findings=result.findings)
    return result


def course_hold(*, part: Course | Part, findings: Iterable[screening.Finding]) -> list[ContentFlag]:
    """Record what screening found and hide the course (from the catalogue and email) until reviewed."""
    course = part if isinstance(part, Course) else part.course
    kind = PartKind.OUTLINE if isinstance(part, Course) else part_kind(part)
    target = {kind: part} if kind != PartKind.OUTLINE else {}
    with transaction.atomic():
        locked = _lock(course)
        # A part screened twice (a redelivered task) must not list the same finding twice.
        known = set(
            ContentFlag.objects.filter(
                course=locked, part_kind=kind, resolved_at__isnull=True, **target
            ).values_list("code", "detail", "excerpt")
        )
        flags = ContentFlag.objects.bulk_create(
            ContentFlag(
                course=locked,
                part_kind=kind,
                **target,
                source=finding.source,
                code=finding.code,
                detail=finding.detail,
                excerpt=finding.excerpt,
            )
            for finding in findings
            if (finding.code, finding.detail, finding.excerpt) not in known
        )
        if flags:
            _quality_report_queue(locked)
        if flags and not locked.held_for_review:
            # An approved course leaves the catalogue: a moderator must approve it again.
            to_state = Review.PENDING if locked.review_state == Review.APPROVED else locked.review_state
            summary = "; ".join(f"{flag.get_part_kind_display()}: {flag.detail}" for flag in flags)
            _move(locked, None, Action.HOLD, to_state, summary, held_for_review=True, featured=False)
    _copy_review_fields(locked, course)
    return flags


# --- Parts ---------------------------------------------------------------------------------------------
def part_kind(part: Part) -> str:
    if isinstance(part, Week):
        return PartKind.WEEK
    if isinstance(part, Lesson):
        return PartKind.LESSON
    return PartKind.QUIZ


# --- Learner reports -----------------------------------------------------------------------------------
def lesson_report(
    *,
    lesson: Lesson,
    reason: str,
    comment: str = "",
    quoted_text: str = "",
    reporter: User | None = None,
    reporter_ip: str | None = None,
    source: str = LessonReport.Source.WEB,
) -> LessonReport:
    """Record a learner's report; the same learner reporting the same thing again updates their report."""
    if reason not in LessonReport.Reason.values:
        raise ModerationError(REPORT_REASON_INVALID)
    quote = quoted_text.strip()[:QUOTE_MAX_CHARS] or screening.excerpt(lesson.body)
    fields = {"comment": comment.strip()[:COMMENT_MAX_CHARS], "quoted_text": quote, "source": source}
    if reporter is not None:
        existing = LessonReport.objects.filter(
            lesson=lesson, reporter=reporter, reason=reason, resolved_at__isnull=True
        ).first()
        if existing:
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.save(update_fields=list(fields))
            return existing
    return LessonReport.objects.create(
        lesson=lesson,
        course_id=lesson.course_id,
        reporter=reporter,
        reporter_ip=reporter_ip,
        reason=reason,
        **fields,
    )


def report_resolve(*, report: LessonReport, actor: User, note: str = "") -> AuditEntry | None:
    with transaction.atomic():
        updated = LessonReport.objects.filter(pk=report.pk, resolved_at__isnull=True).update(
            resolved_at=timezone.now(), resolved_by=actor
        )
        if not updated:
            return None
        reason = f"Report “{report.get_reason_display()}” on “{report.lesson.title}”. {note}".strip()
        return audit_record(course=report.course, actor=actor, action=Action.RESOLVE_REPORT, reason=reason)


# --- Roles ---------------------------------------------------------------------------------------------
MODERATORS_GROUP = "moderators"
# Work the queue, edit and regenerate parts, read revisions, reports and refused topics. Superusers have
# every permission; the cost dashboard is theirs alone. (The 0003 migration creates the group with these.)
MODERATOR_PERMISSIONS = (
    "view_course", "moderate_course",
    "view_week", "change_week", "view_lesson", "change_lesson", "view_quiz", "change_quiz",
    "view_partrevision", "view_auditentry", "view_contentflag",
    "view_lessonreport", "change_lessonreport", "view_refusedtopic",
)  # fmt: skip


def moderator_grant(*, user: User) -> Group:
    """Make `user` a moderator: staff (to reach the admin) and in the "moderators" group."""
    group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    permissions = Permission.objects.filter(
        content_type__app_label="courses", codename__in=MODERATOR_PERMISSIONS
    )
    group.permissions.add(*permissions)
    user.groups.add(group)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return group
