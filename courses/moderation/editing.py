"""Editing a week, lesson or quiz in place, keeping every replaced version as a revision, and restoring one.

Parts are changed in their own rows, so their ids, the learner progress pointing at them and every link
already emailed survive. Each change leaves a `PartRevision` (the text it replaced) and an `AuditEntry`.
Used by the admin's editors, the requester's editor and regeneration (`courses.moderation.regeneration`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from courses import selectors
from courses.generation import prompts
from courses.models import AuditEntry, Course, Lesson, PartKind, PartRevision, PartStatus, Quiz, Week
from courses.moderation import screening
from courses.moderation.review import ModerationError, Part, audit_record, part_kind, part_screen_and_hold
from courses.quality import checks
from courses.rendering import markdown_to_safe_html

Action = AuditEntry.Action
Review = Course.Review

# The fields a person may change, and the fields a revision keeps, for each kind of part.
EDITABLE_FIELDS: dict[str, tuple[str, ...]] = {
    PartKind.WEEK: ("title", "overview", "objectives"),
    PartKind.LESSON: ("title", "body"),
    PartKind.QUIZ: ("questions",),
}
CAUSE_ACTIONS: dict[str, str] = {
    PartRevision.Cause.EDIT: Action.EDIT,
    PartRevision.Cause.RESTORE: Action.RESTORE,
    PartRevision.Cause.REGENERATE: Action.REGENERATE,
}
SNAPSHOT_FIELDS: dict[str, tuple[str, ...]] = {
    PartKind.WEEK: ("title", "overview", "objectives", "reading_list"),
    PartKind.LESSON: ("title", "summary", "body"),
    PartKind.QUIZ: ("questions",),
}


def part_snapshot(part: Part) -> dict[str, Any]:
    return {name: getattr(part, name) for name in SNAPSHOT_FIELDS[part_kind(part)]}


def part_edit(*, part: Part, changes: dict[str, Any], actor: User, note: str = "") -> PartRevision | None:
    """Change a week, lesson or quiz in place, keeping the replaced version as a revision.

    Returns the revision, or None when nothing changed. A requester's own edit is screened like generated
    text, since only a moderator's word is trusted.
    """
    cleaned = part_changes_clean(kind=part_kind(part), changes=changes)
    with transaction.atomic():
        locked = type(part).objects.select_for_update().get(pk=part.pk)
        if all(getattr(locked, name) == value for name, value in cleaned.items()):
            return None
        revision = part_replace(
            part=locked, content=cleaned, actor=actor, cause=PartRevision.Cause.EDIT, note=note
        )
    _copy_part_fields(locked, part)
    if not actor.is_staff:
        part_screen_and_hold(part=part)
    return revision


def revision_restore(*, revision: PartRevision, actor: User) -> PartRevision:
    """Bring back an earlier version; the version it replaces becomes a revision in turn."""
    part = revision.week or revision.lesson or revision.quiz
    assert part is not None  # the revision_points_at_its_part constraint guarantees one
    content = {
        name: revision.content[name] for name in SNAPSHOT_FIELDS[revision.kind] if name in revision.content
    }
    with transaction.atomic():
        locked = type(part).objects.select_for_update().get(pk=part.pk)
        restored = part_replace(
            part=locked,
            content=content,
            actor=actor,
            cause=PartRevision.Cause.RESTORE,
            note=f"Restored the version of {timezone.localtime(revision.created_at):%Y-%m-%d %H:%M}.",
        )
    _copy_part_fields(locked, part)
    return restored


def part_replace(
    *,
    part: Part,
    content: dict[str, Any],
    actor: User | None,
    cause: str,
    note: str = "",
    instruction: str = "",
) -> PartRevision:
    """Keep the current version as a revision, write `content` into the (locked) row, and audit it.

    Shared by edits, restores and regeneration. A part given its text this way counts as written, so a
    moderator can rescue a part whose generation failed (a new title alone does not write it).
    """
    kind = part_kind(part)
    revision = PartRevision.objects.create(
        course_id=part.course_id,
        kind=kind,
        **{kind: part},
        content=part_snapshot(part),
        cause=cause,
        instruction=instruction,
        author=actor,
    )
    for name, value in content.items():
        setattr(part, name, value)
    fields = set(content)
    if isinstance(part, Lesson):
        part.body_html = markdown_to_safe_html(part.body)
        fields.add("body_html")
    if isinstance(part, Week):  # emails, the PDF and the API show the rendered overview
        part.overview_html = markdown_to_safe_html(part.overview)
        fields.add("overview_html")
    if (
        isinstance(part, Lesson | Quiz)
        and part.status != PartStatus.WRITTEN
        and fields & {"body", "questions"}
    ):
        part.status, part.failure_reason, part.written_at = PartStatus.WRITTEN, "", timezone.now()
        fields.update({"status", "failure_reason", "written_at"})
    part.save(update_fields=sorted(fields))
    course_content_changed(course_id=part.course_id)
    action = CAUSE_ACTIONS[cause]
    reason = " ".join(
        filter(None, [f"{revision.get_kind_display()} “{_part_label(part)}”.", note, instruction])
    )
    audit_record(course=part.course, actor=actor, action=action, reason=reason, revision=revision)
    return revision


def course_content_changed(*, course_id: UUID) -> None:
    """Move the course's content version on (`course_content_version_bump`) and measure its quality again."""
    course_content_version_bump(course_id=course_id)
    checks.course_quality_queue(course_id=course_id)


def course_content_version_bump(*, course_id: UUID) -> None:
    """Move the course's content version on: the caches of its structure, outline and PDF key on it, so
    every page shows the new text at once (and the next PDF is made from it). The outline every part prompt
    quotes is stored again too, so a part regenerated later is written from the course as it now reads."""
    course = Course.objects.get(pk=course_id)
    outline = prompts.outline_json(selectors.course_outline(course=course))
    Course.objects.filter(pk=course_id).update(content_version=F("content_version") + 1, outline_json=outline)


def _part_label(part: Part) -> str:
    if isinstance(part, Quiz):
        return f"quiz of week {part.week.number}"
    return part.title


def _copy_part_fields(source: Part, target: Part) -> None:
    for name in (*SNAPSHOT_FIELDS[part_kind(source)], "body_html", "status", "failure_reason", "written_at"):
        if hasattr(source, name):
            setattr(target, name, getattr(source, name))


def part_changes_clean(*, kind: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Check the fields a person changed; raise ModerationError with a message they can act on."""
    unknown = set(changes) - set(EDITABLE_FIELDS[kind])
    if unknown:
        raise ModerationError(f"These fields cannot be edited: {', '.join(sorted(unknown))}.")
    cleaned = dict(changes)
    if "title" in cleaned:
        cleaned["title"] = str(cleaned["title"]).strip()
        if not cleaned["title"] or len(cleaned["title"]) > 300:
            raise ModerationError("A title is needed, of at most 300 characters.")
    if "body" in cleaned and not str(cleaned["body"]).strip():
        raise ModerationError("A lesson cannot be empty.")
    if "objectives" in cleaned:
        cleaned["objectives"] = [str(line).strip() for line in cleaned["objectives"] if str(line).strip()]
    if "questions" in cleaned:
        problems = screening.quiz_findings(cleaned["questions"])
        if problems:
            raise ModerationError(problems[0].detail)
    return cleaned
