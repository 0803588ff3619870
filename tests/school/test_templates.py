"""Template hygiene that Django does not check for us."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

TEMPLATE_DIRS = [Path(settings.BASE_DIR) / "templates"]


def test_no_template_comment_spans_lines() -> None:
    """Django's `{# … #}` comments end at the line's end: one spanning lines is printed on the page as text
    (it was, on every course page). Longer comments use {% comment %}."""
    broken = [
        f"{path.relative_to(settings.BASE_DIR)}:{number}"
        for directory in TEMPLATE_DIRS
        for path in sorted(directory.rglob("*.html")) + sorted(directory.rglob("*.txt"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert broken == []
