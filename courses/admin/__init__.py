"""The moderation queue and the admin pages around it.

The course list *is* the queue: by default it shows what waits for a moderator (written and pending review,
held by screening, or reported by learners), oldest first, with why each waits, who asked for it and what it
cost, and one-click approve / reject / feature. Review fields are read-only here: every change goes through
`courses.moderation.review`, so it is audited. Editing, history, preview and the cost dashboard are in
`courses.admin.views`.
"""

from __future__ import annotations

# Importing the admins registers them (`@admin.register`) when Django autodiscovers `courses.admin`.
from courses.admin.course import AuditEntryInline, ContentFlagInline, CourseAdmin, LessonReportInline
from courses.admin.queue import NEVER, QueueFilter, queue_annotations, waiting_q
from courses.admin.records import (
    AuditEntryAdmin,
    ContentFlagAdmin,
    LessonReportAdmin,
    LLMCallAdmin,
    ReadOnlyAdmin,
    RefusedTopicAdmin,
)

__all__ = [
    "NEVER",
    "AuditEntryAdmin",
    "AuditEntryInline",
    "ContentFlagAdmin",
    "ContentFlagInline",
    "CourseAdmin",
    "LLMCallAdmin",
    "LessonReportAdmin",
    "LessonReportInline",
    "QueueFilter",
    "ReadOnlyAdmin",
    "RefusedTopicAdmin",
    "queue_annotations",
    "waiting_q",
]
