"""One illustration per lesson from Wikimedia Commons: found by searching the lesson's subject, kept only if
freely licensed, stored with its author, licence and source (the caption credits them), and checked to exist
before it is stored. Moderators can remove it (`lesson_picture_remove`) or replace it with another file they
pick from a Commons search (`lesson_picture_candidates`, `lesson_picture_replace`), checked the same way."""

from __future__ import annotations

import logging
import re
from typing import Any
from uuid import UUID

from django.utils import timezone
from django.utils.html import strip_tags

from accounts.models import User
from courses.models import AuditEntry, Lesson, LessonPicture
from courses.moderation import editing, review
from courses.quality import lookups, report

logger = logging.getLogger(__name__)

# Licences that let anyone reuse a picture with credit: public domain, CC0, CC BY and CC BY-SA.
FREE_LICENCE = re.compile(
    r"^(public domain|pd\b|cc0|cc[ -]by([ -]sa)?( \d\.\d)?( [a-z]{2,})?$)", re.IGNORECASE
)
# Where Commons serves its files: the only image host pages (school.settings' CSP) and the PDF
# (courses.reading.pdf) load pictures from.
PICTURE_HOST = "https://upload.wikimedia.org/"
CANDIDATES_SHOWN = 6
PICTURE_MISSING = "That file does not exist on Wikimedia Commons (any more)."
PICTURE_NOT_FREE = "That file is not freely licensed, so it cannot illustrate a lesson."
PICTURE_REPLACED = "Picture of lesson “{lesson}” replaced by “{title}” ({licence})."


class PictureRefused(Exception):
    """A moderator's pick that cannot be used; the message says why."""


def course_pictures_find(*, course_id: UUID) -> int:
    """Find a picture for every written lesson of the course that has none yet; returns how many were found."""
    found = 0
    lessons = Lesson.objects.filter(course_id=course_id, picture__isnull=True).exclude(body="")
    for lesson in lessons.select_related("course"):
        try:
            found += lesson_picture_find(lesson=lesson) is not None
        except lookups.LookupFailed as error:
            logger.info("No picture for lesson %s: %s", lesson.pk, error)
    return found


def lesson_picture_query(lesson: Lesson) -> str:
    """What Commons is searched for: the lesson's subject."""
    return f"{lesson.course.topic} {lesson.title}"[:250]


def lesson_picture_find(*, lesson: Lesson) -> LessonPicture | None:
    for page in lookups.commons_search(query=lesson_picture_query(lesson)):
        candidate = _candidate(page)
        if candidate is None or not lookups.commons_file_exists(title=f"File:{candidate['title']}"):
            continue
        picture, _ = LessonPicture.objects.get_or_create(
            lesson=lesson, defaults={"course_id": lesson.course_id, **candidate}
        )
        return picture
    return None


def _candidate(page: dict[str, Any]) -> dict[str, str] | None:
    """The fields of a picture from a Commons search result, or None if it is not freely licensed."""
    info = (page.get("imageinfo") or [{}])[0]
    meta = info.get("extmetadata") or {}

    def field(name: str) -> str:
        return strip_tags(str((meta.get(name) or {}).get("value") or "")).strip()

    licence = field("LicenseShortName")
    image = str(info.get("thumburl") or info.get("url") or "")
    if not FREE_LICENCE.match(licence) or not image.startswith(PICTURE_HOST):
        return None
    return {
        "title": str(page.get("title") or "").removeprefix("File:")[:500],
        "image_url": image[:1000],
        "source_url": str(info.get("descriptionurl") or "")[:1000],
        "author": (field("Artist") or "Unknown author")[:500],
        "licence": licence[:200],
        "licence_url": field("LicenseUrl")[:1000],
        "description": field("ImageDescription")[:500],
    }


def lesson_picture_remove(*, picture: LessonPicture, actor: User) -> None:
    """Take the picture off the lesson (kept, marked removed, so it is not found again)."""
    picture.removed_at, picture.removed_by = timezone.now(), actor
    picture.save(update_fields=["removed_at", "removed_by"])
    editing.course_content_changed(course_id=picture.course_id)


def lesson_picture_candidates(*, lesson: Lesson, query: str = "") -> list[dict[str, str]]:
    """Freely licensed files a moderator may pick instead of the lesson's picture: a Commons search (cached) on
    `query`, or on the lesson's subject; the picture it shows now is left out. Raises LookupFailed."""
    current = lesson.shown_picture
    seen = {current.title} if current else set()
    found = []
    for page in lookups.commons_search(query=(query.strip() or lesson_picture_query(lesson))[:250], limit=12):
        candidate = _candidate(page)
        if candidate is not None and candidate["title"] not in seen:
            seen.add(candidate["title"])
            found.append(candidate)
    return found[:CANDIDATES_SHOWN]


def lesson_picture_replace(*, lesson: Lesson, title: str, actor: User) -> LessonPicture:
    """Show the Commons file `title` on the lesson instead of its picture (or removed picture).

    The file is looked up again on Commons, so only what Commons says now is stored: it must exist and be
    freely licensed, exactly as for an automatic pick. Raises PictureRefused, or LookupFailed."""
    if not report.lookups_enabled():
        raise PictureRefused(report.lookups_off_reason())
    page = lookups.commons_file(title="File:" + title.strip().removeprefix("File:"))
    if page is None:
        raise PictureRefused(PICTURE_MISSING)
    candidate = _candidate(page)
    if candidate is None:
        raise PictureRefused(PICTURE_NOT_FREE)
    picture, _ = LessonPicture.objects.update_or_create(
        lesson=lesson,
        defaults={
            "course_id": lesson.course_id,
            **candidate,
            "checked_at": timezone.now(),
            "removed_at": None,
            "removed_by": None,
        },
    )
    reason = PICTURE_REPLACED.format(lesson=lesson.title, title=picture.title, licence=picture.licence)
    review.audit_record(course=lesson.course, actor=actor, action=AuditEntry.Action.EDIT, reason=reason)
    editing.course_content_changed(course_id=lesson.course_id)
    return picture
