"""Markdown written by the LLM is untrusted: render it, then keep only an allow-list of tags and attributes.

Every page, email and PDF shows LLM text through `markdown_to_safe_html`, never through `markdown` alone.
"""

from __future__ import annotations

import threading

import markdown
import nh3
from markdown.extensions.toc import slugify_unicode

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
    **{f"h{level}": {"id"} for level in range(1, 7)},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
MARKDOWN_EXTENSIONS = ["extra", "sane_lists", "toc"]
# Headings get ids so a quiz's feedback can link to the section that teaches an answer. The prefix keeps the
# text's ids apart from the page's own (no heading can clobber "main" or a form's id), and only ids that
# carry it survive sanitizing, so raw HTML in a lesson cannot set any other.
HEADING_ID_PREFIX = "s-"


def markdown_to_safe_html(text: str) -> str:
    """Render markdown to HTML that holds no script, event handler, frame or non-http(s) link."""
    return sanitize_html(_renderer().reset().convert(text))


def sanitize_html(html: str) -> str:
    """Keep only the allow-list's tags, attributes and link schemes of `html`."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        attribute_filter=_only_heading_ids,
    )


def heading_id(text: str) -> str:
    """The id a heading with this text gets in rendered markdown (before de-duplication: `_1`, `_2`)."""
    return HEADING_ID_PREFIX + slugify_unicode(text, "-")


def _only_heading_ids(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "id":
        return value if value.startswith(HEADING_ID_PREFIX) else None
    return value


_local = threading.local()


def _renderer() -> markdown.Markdown:
    """This thread's Markdown renderer (an instance is not thread-safe), reset before each document as
    Python-Markdown documents: building one per call (`markdown.markdown`) set up every extension's processors
    again, ~0.5 ms of the ~2.5 ms a lesson took, and every lesson of every course is rendered."""
    renderer = getattr(_local, "markdown", None)
    if renderer is None:
        renderer = _local.markdown = markdown.Markdown(
            extensions=MARKDOWN_EXTENSIONS,
            extension_configs={"toc": {"slugify": _slugify, "marker": ""}},
            output_format="html",
        )
    return renderer


def _slugify(text: str, separator: str) -> str:
    return HEADING_ID_PREFIX + slugify_unicode(text, separator)
