"""Verifying a course's suggested readings: books in Open Library, articles (by DOI or title) in Crossref.

A reading is verified when a catalogue holds a record whose title and author are close enough to it
(rapidfuzz); the canonical record and its link are stored on the reading. One that no catalogue knows is kept
as "suggested, not verified", or hidden when QUALITY_UNVERIFIED_READINGS is "drop".
"""

from __future__ import annotations

import logging
import re
from typing import Any
from uuid import UUID

from django.conf import settings
from rapidfuzz import fuzz, utils

from courses.models import Week
from courses.quality import lookups

logger = logging.getLogger(__name__)

DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)
TITLE_MIN_SCORE = 90
AUTHOR_MIN_SCORE = 85


def course_readings_verify(*, course_id: UUID) -> int:
    """Look up every reading of the course not looked up yet; returns how many were verified."""
    verified = 0
    for week in Week.objects.filter(course_id=course_id).order_by("number"):
        items = [item for item in week.reading_list or [] if isinstance(item, dict)]
        if all(item.get("checked") for item in items):
            continue
        checked = [item if item.get("checked") else reading_verify(item) for item in items]
        verified += sum(bool(item.get("verified")) for item in checked)
        # Only the reading list: the row may be edited meanwhile, and a lookup must never undo an edit.
        Week.objects.filter(pk=week.pk, reading_list=week.reading_list).update(reading_list=checked)
    return verified


def reading_verify(item: dict[str, Any]) -> dict[str, Any]:
    """The reading with what the catalogues say: `checked`, `verified`, and the matching `record`."""
    title, author = str(item.get("title") or ""), str(item.get("author") or "")
    try:
        record = _lookup(title, author, str(item.get("url") or ""))
    except lookups.LookupFailed as error:
        logger.info("Could not look up the reading %r: %s", title, error)
        return item  # left unchecked, tried again next time
    verified = record is not None
    hidden = not verified and settings.QUALITY_UNVERIFIED_READINGS == "drop"
    return {**item, "checked": True, "verified": verified, "record": record, "hidden": hidden}


def _lookup(title: str, author: str, url: str) -> dict[str, Any] | None:
    doi = DOI.search(f"{url} {title}")
    if doi:
        work = lookups.crossref_doi(doi=doi.group(1).rstrip(".,;"))
        return _crossref_record(work) if work and _matches(title, author, _crossref_pair(work)) else None
    for book in lookups.openlibrary_search(title=title, author=author):
        pair = (str(book.get("title") or ""), [str(name) for name in book.get("author_name") or []])
        if _matches(title, author, pair):
            return {
                "source": "Open Library",
                "title": pair[0],
                "authors": pair[1],
                "year": book.get("first_publish_year"),
                "url": f"{settings.OPENLIBRARY_URL}{book.get('key', '')}",
            }
    for work in lookups.crossref_search(title=title, author=author):
        if _matches(title, author, _crossref_pair(work)):
            return _crossref_record(work)
    return None


def _crossref_pair(work: dict[str, Any]) -> tuple[str, list[str]]:
    titles = work.get("title") or [""]
    people = work.get("author") or []
    names = [" ".join(filter(None, [p.get("given"), p.get("family")])) for p in people if isinstance(p, dict)]
    return str(titles[0]), names


def _crossref_record(work: dict[str, Any]) -> dict[str, Any]:
    title, authors = _crossref_pair(work)
    issued = ((work.get("issued") or {}).get("date-parts") or [[None]])[0]
    doi = str(work.get("DOI") or "")
    return {
        "source": "Crossref",
        "title": title,
        "authors": authors,
        "year": issued[0] if issued else None,
        "url": f"https://doi.org/{doi}" if doi else str(work.get("URL") or ""),
    }


def _matches(title: str, author: str, candidate: tuple[str, list[str]]) -> bool:
    """Close enough: the titles (word order and subtitles aside) and, when the reading names one, an author."""
    found_title, found_authors = candidate
    if fuzz.token_set_ratio(title, found_title, processor=utils.default_process) < TITLE_MIN_SCORE:
        return False
    if not author.strip():
        return True
    wanted = [name.strip() for name in re.split(r",| and |&|;", author) if name.strip()]
    return any(
        fuzz.token_set_ratio(name, found, processor=utils.default_process) >= AUTHOR_MIN_SCORE
        for name in wanted
        for found in found_authors
    )
