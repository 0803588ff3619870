"""One illustration per lesson from Wikimedia Commons: found by searching the lesson's subject, kept only if
freely licensed, stored with its author, licence and source (the caption credits them), and checked to exist
before it is stored. Moderators can remove it (`lesson_picture_remove`)."""

from __future__ import annotations

import logging
import re
from typing import Any
from uuid import UUID

from django.utils import timezone
from django.utils.html import strip_tags

from accounts.models import User
from courses.models import Lesson, LessonPicture
from courses.moderation import editing
from courses.quality import lookups

logger = logging.getLogger(__name__)

# Licences that let anyone reuse a picture with credit: public domain, CC0, CC BY and CC BY-SA.
FREE_LICENCE = re.compile(
    r"^(public domain|pd\b|cc0|cc[ -]by([ -]sa)?( \d\.\d)?( [a-z]{2,})?$)", re.IGNORECASE
)


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


def lesson_picture_find(*, lesson: Lesson) -> LessonPicture | None:
    query = f"{lesson.course.topic} {lesson.title}"[:250]
    for page in lookups.commons_search(query=query):
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
    if not FREE_LICENCE.match(licence) or not image.startswith("https://"):
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
