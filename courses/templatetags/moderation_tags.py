"""Template helpers for the moderation pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from courses.rendering import markdown_to_safe_html, sanitize_html

register = template.Library()


@register.filter
def safe_markdown(text: str) -> SafeString:
    """LLM markdown rendered and sanitized (the sanitizer's output is what makes mark_safe correct here)."""
    return mark_safe(markdown_to_safe_html(text or ""))


@register.filter
def sanitized_html(html: str) -> SafeString:
    """HTML stored by `markdown_to_safe_html` (a lesson's body_html), cleaned again with the same allow-list:
    much cheaper than rendering the markdown again, and still never trusting a stored field blindly."""
    return mark_safe(sanitize_html(html or ""))


@register.filter
def lookup(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key, [])


@register.simple_tag
def part_key(kind: str, part_id: int) -> tuple[str, int]:
    return (kind, part_id)
