"""Markdown written by the LLM is untrusted: render it, then keep only an allow-list of tags and attributes.

Every page, email and PDF shows LLM text through `markdown_to_safe_html`, never through `markdown` alone.
"""

from __future__ import annotations

import html
import re
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


# Python-Markdown is quadratic in two ways, and both are bounded before it runs:
# 1. Its link, reference and image patterns scan from each `[` to its matching `]` (or to the end of the block):
#    8,000 unmatched `[` took 13.5 s. Brackets that cannot close, or nest deeper than any link needs, are escaped
#    first, so those scans add up to at most MAX_BRACKET_DEPTH passes over each pattern's text. Likewise a
#    link's target is scanned from its `](` to the `)` that closes it (or to the end of the block): 8,000
#    characters of `[a](` took 1.1 s. A target that would run past MAX_LINK_TARGET characters has its `(`
#    escaped, and a `](` inside a target is never scanned, so these scans add up to one pass over the text.
# 2. Each inline match rebuilds its block's string, and some block processors split a block line by line, so a
#    block costs about (its length) x (its marks and lines): 200 KB of `[a](b)` in one paragraph took 6 s, of
#    `# a` lines 172 s. Beyond that, each element costs up to ~0.1 ms however it is written (40,000 list items:
#    7 s). Text past INLINE_WORK_BUDGET or MAX_ELEMENTS (~0.4 s in all), or that nests quotes or lists deeper
#    than MAX_NESTING, is shown as plain paragraphs under a note instead.
MAX_BRACKET_DEPTH = 3
MAX_LINK_TARGET = 2_000  # characters between `](` and its `)`: a long URL and a title fit
MAX_NESTING = 6
INLINE_WORK_BUDGET = 100_000_000
MAX_ELEMENTS = 4_000
PLAIN_TEXT_NOTE = "This text is shown without formatting: its markup is too intricate to lay out."
_INLINE_MARKS = re.compile(r"[\\`*_\[\]!<&~{|^=:\"']|  \n")
_BLOCKS = re.compile(r"\n[ \t]*\n")
_ABBREVIATION = re.compile(r"^\*\[", re.M)
_DEEP_NESTING = re.compile(
    rf"^(?:[ \t]*(?:>|[-+*][ \t]|\d+[.)][ \t])){{{MAX_NESTING}}}|^(?: {{4}}|\t){{{MAX_NESTING}}}", re.M
)
_FENCED = re.compile(r"^(?P<fence>```+|~~~+)[^\n]*\n.*?^(?P=fence)[ \t]*$", re.M | re.S)
# What Python-Markdown does not scan for links: fenced code blocks and code spans (stashed first; a code span
# never crosses a line).
_CODE = re.compile(
    r"^(?P<fence>```+|~~~+)[^\n]*\n.*?^(?P=fence)[ \t]*$|(?P<ticks>`+)[^`\n][^\n]*?(?<!`)(?P=ticks)(?!`)",
    re.M | re.S,
)
_BRACKET_OR_ESCAPE = re.compile(r"\\.|[\[\]]", re.S)


def markdown_to_safe_html(text: str) -> str:
    """Render markdown to HTML that holds no script, event handler, frame or non-http(s) link, in time that
    grows linearly with the text (see above)."""
    text = escape_far_reaching_link_targets(escape_pathological_brackets(text))
    if markdown_too_intricate(text):
        return plain_text_html(text)
    try:
        return links_with_domains(sanitize_html(_renderer().reset().convert(text)))
    except RecursionError:  # nesting the checks above did not foresee: still shown, never a server error
        # A renderer stopped mid-document keeps half its state (every later document lost its links and
        # paragraphs): this thread builds a fresh one for the next.
        _local.markdown = None
        return plain_text_html(text)


def markdown_too_intricate(text: str) -> bool:
    """Whether rendering `text` would pass INLINE_WORK_BUDGET or MAX_ELEMENTS, or nest deeper than MAX_NESTING."""
    outside_fences = _FENCED.sub("", text) if "```" in text or "~~~" in text else text
    if _DEEP_NESTING.search(outside_fences):
        return True
    counts_words = _ABBREVIATION.search(text) is not None  # each use of an abbreviation is a match too
    work = elements = 0
    for block in _BLOCKS.split(text):
        marks = len(_INLINE_MARKS.findall(block)) + (block.count(" ") if counts_words else 0)
        lines = block.count("\n") + 1
        work += len(block) * (marks + lines)
        elements += lines + marks // 2
        if work > INLINE_WORK_BUDGET or elements > MAX_ELEMENTS:
            return True
    return False


def plain_text_html(text: str) -> str:
    """`text` as escaped paragraphs under a note: the fallback for markup too intricate to render."""
    paragraphs = (html.escape(block.strip()) for block in _BLOCKS.split(text) if block.strip())
    return f"<p><em>{PLAIN_TEXT_NOTE}</em></p>" + "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)


def escape_pathological_brackets(text: str) -> str:
    """`text` with a backslash before every `[` that has no matching `]` or nests deeper than
    MAX_BRACKET_DEPTH, outside code; ordinary links, footnotes and references are left as they are."""
    if "[" not in text:
        return text
    code = [match.span() for match in _CODE.finditer(text)] if "`" in text or "~" in text else []
    escaped: list[int] = []
    open_at: list[int] = []
    in_code = 0  # index into `code` of the first span not wholly before the current position
    for match in _BRACKET_OR_ESCAPE.finditer(text):
        position = match.start()
        while in_code < len(code) and code[in_code][1] <= position:
            in_code += 1
        if (in_code < len(code) and code[in_code][0] <= position) or match.group() not in "[]":
            continue
        if match.group() == "]":
            if open_at:
                open_at.pop()
        elif len(open_at) >= MAX_BRACKET_DEPTH:
            escaped.append(position)
        else:
            open_at.append(position)
    escaped = sorted(escaped + open_at)
    if not escaped:
        return text
    pieces, last = [], 0
    for position in escaped:
        pieces += [text[last:position], "\\"]
        last = position
    return "".join([*pieces, text[last:]])


_PAREN_OR_BREAK = re.compile(r"\\.|[()]|\n[ \t]*\n", re.S)
_QUOTE = re.compile(r"[\"']")
_QUOTE_THEN_CLOSE = re.compile(r"[\"']\)")


def escape_far_reaching_link_targets(text: str) -> str:
    """`text` with a backslash before the `(` of every `](` whose target Python-Markdown would scan for more
    than MAX_LINK_TARGET characters (no `)` closes it in its block, or only a far one), outside code."""
    if "](" not in text:
        return text
    closing = _matching_parentheses(text)
    escaped: list[int] = []
    scanned_until = -1  # a `](` inside a link target already taken is part of that link, never scanned
    for match in re.finditer(r"\]\(", text):
        opening = match.start() + 1
        if opening not in closing or opening < scanned_until:
            continue
        end = closing[opening]
        if 0 <= end <= opening + MAX_LINK_TARGET and _QUOTE.search(text, opening, end):
            # A title: Python-Markdown then counts no parentheses and looks for `")` or `')` instead.
            title_end = _QUOTE_THEN_CLOSE.search(text, opening, opening + MAX_LINK_TARGET)
            end = title_end.end() - 1 if title_end else -1
        if end < 0 or end - opening > MAX_LINK_TARGET:
            escaped.append(opening)
        else:
            scanned_until = end
    pieces, last = [], 0
    for position in escaped:
        pieces += [text[last:position], "\\"]
        last = position
    return "".join([*pieces, text[last:]])


def _matching_parentheses(text: str) -> dict[int, int]:
    """Position of each `(` that follows a `]`, outside code and escapes → the position of the `)` that closes
    it as Python-Markdown counts them (within its block), or -1 if none does."""
    code = [match.span() for match in _CODE.finditer(text)] if "`" in text or "~" in text else []
    closing: dict[int, int] = {}
    open_at: list[int] = []
    in_code = 0
    for match in _PAREN_OR_BREAK.finditer(text):
        position, token = match.start(), match.group()
        while in_code < len(code) and code[in_code][1] <= position:
            in_code += 1
        if (in_code < len(code) and code[in_code][0] <= position) or token[0] == "\\":
            continue
        if token == "(":
            open_at.append(position)
            if text[position - 1 : position] == "]" and text[position - 2 : position - 1] != "\\":
                closing[position] = -1
        elif token == ")":
            if open_at and (opened := open_at.pop()) in closing:
                closing[opened] = position
        else:  # a blank line: a block ends, and with it every target still open
            open_at.clear()
    return closing


# LLM text may link anywhere: each web link says where it goes, after its text, unless the text already does,
# so "[the official docs](https://evil.example)" reads "the official docs (evil.example)".
_WEB_LINK = re.compile(r'<a href="https?://([^/"?#:]+)[^"]*"([^>]*)>(.*?)</a>', re.S)


def links_with_domains(safe_html: str) -> str:
    """`safe_html` (sanitized) with the domain of each web link shown after it."""

    def shown(match: re.Match[str]) -> str:
        domain = match.group(1).lower().removeprefix("www.")
        if domain in match.group(3).lower():
            return match.group()
        return f'{match.group()} <small class="link-domain">({html.escape(domain)})</small>'

    return _WEB_LINK.sub(shown, safe_html)


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
