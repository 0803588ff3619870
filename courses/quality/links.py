"""The http(s) links a course cites (in its lessons and readings), and checking them (`lookups.link_check`: status,
redirects, content type): each result is kept as a LinkCheck row, shared by every course citing that link. A
link that works but leads to a download or a file that is not a page keeps why in `problem`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from courses.models import Lesson, LinkCheck, Week
from courses.quality import lookups

URL = re.compile(r"https?://[^\s<>()\"'\]]+", re.IGNORECASE)
TRAILING = ".,;:!?*_"


def text_links(text: str) -> list[str]:
    """Every http(s) address in markdown text (in links or bare), trailing punctuation dropped."""
    return [match.rstrip(TRAILING) for match in URL.findall(text)]


def course_links(*, weeks: Iterable[Week], lessons: Iterable[Lesson]) -> list[str]:
    """The course's distinct links, in order of appearance: its lessons', then its readings'."""
    found: dict[str, None] = {}
    for lesson in lessons:
        found.update(dict.fromkeys(text_links(lesson.body)))
    for week in weeks:
        for item in week.reading_list or []:
            url = str(item.get("url") or "") if isinstance(item, dict) else ""
            if url.startswith(("http://", "https://")):
                found[url] = None
    return [url for url in found if len(url) <= 1000]


def links_check(*, urls: list[str]) -> list[LinkCheck]:
    """Check each link (from the cache when recently checked) and store the result."""
    checks = []
    for url in urls:
        result = lookups.link_check(url)
        check, _ = LinkCheck.objects.update_or_create(
            url=url,
            defaults={
                "ok": result.ok,
                "status": result.status,
                "content_type": result.content_type[:200],
                "final_url": result.final_url[:1000],
                "detail": result.detail[:300],
                "problem": result.problem[:300],
            },
        )
        checks.append(check)
    return checks
