from __future__ import annotations

import gc
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courses.rendering import PLAIN_TEXT_NOTE, markdown_to_safe_html

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(2)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<p onclick="steal()">hi</p>',
    '<a href="data:text/html;base64,PHNjcmlwdD4=">data</a>',
]


@pytest.mark.parametrize("markdown_text", HOSTILE)
def test_it_removes_scripts_handlers_frames_and_unsafe_links(markdown_text: str) -> None:
    html = markdown_to_safe_html(markdown_text).lower()
    for forbidden in ("<script", "onerror", "onclick", "javascript:", "<iframe", "data:text"):
        assert forbidden not in html


def test_it_keeps_headings_lists_code_and_safe_links() -> None:
    html = markdown_to_safe_html("## Title\n\n- one\n- two\n\n`code`\n\n[site](https://example.org)")
    assert '<h2 id="s-title">Title</h2>' in html
    assert "<li>one</li>" in html
    assert "<code>code</code>" in html
    assert 'href="https://example.org"' in html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_each_document_is_rendered_on_its_own() -> None:
    with_notes = (
        "Water[^1] flows.\n\n*[HTML]: HyperText\n\n[rome]: https://rome.example\n\n[^1]: From springs."
    )
    markdown_to_safe_html(with_notes)

    html = markdown_to_safe_html("HTML and [rome] and [^1].")

    assert html == "<p>HTML and [rome] and [^1].</p>"


# ---------------------------------------------------------------------------------------------------------
# Time linear in the input: 200 KB of any markdown renders in under half a second of CPU.
# ---------------------------------------------------------------------------------------------------------
SIZE = 200_000
# Every kind of markup once, so the first measured call pays for no lazily built pattern or extension.
WARM_UP = "# Warm\n\n[a](b) [c][d] ![e](f) [^g] *h* **i** _j_ `k` <l> &amp; \\m\n\n- n\n\n> o\n\n| p |\n|---|\n\n[d]: e\n[^g]: q\n"
RENDER_SECONDS = 0.5
PATHOLOGICAL_UNITS = [
    "[", "![", "][", "[a](", "[a](b) ", "[a][b]", "[^a]", "` a ", "*a ", "**a *", "_a ", "<a ", "&#", "\\", "# a\n",
    "- a\n", "- a\n\n", "> a\n>\n", ">", "|a", "{: ", "~~~\n[", "a\n: b\n", "[`",
]  # fmt: skip


def _cpu_seconds_to_render(text: str) -> float:
    markdown_to_safe_html(WARM_UP)  # this thread's renderer and patterns are built on first use: not the cost
    gc.collect()  # a collection of the whole test process's objects is not the renderer's cost either
    gc.disable()
    try:
        started = time.thread_time()  # this thread's CPU time: other processes and threads do not count
        html = markdown_to_safe_html(text)
        elapsed = time.thread_time() - started
    finally:
        gc.enable()
    assert "<script" not in html
    return elapsed


def _repeat(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


@pytest.mark.parametrize("unit", PATHOLOGICAL_UNITS)
def test_200_kb_of_a_repeated_pathological_unit_renders_in_half_a_second(unit: str) -> None:
    assert _cpu_seconds_to_render(_repeat(unit)) < RENDER_SECONDS


def test_deeply_nested_brackets_lists_and_quotes_render_in_half_a_second() -> None:
    nested_brackets = "[" * (SIZE // 2) + "]" * (SIZE // 2)
    deep_list = _repeat("".join("  " * depth + "- a\n" for depth in range(40)))
    deep_indented_list = "".join("    " * depth + "- a\n" for depth in range(300))
    deep_quote = ">" * SIZE
    nested_emphasis = "*" * (SIZE // 2) + "a" + "*" * (SIZE // 2 - 1)
    for text in (nested_brackets, deep_list, deep_indented_list, deep_quote, nested_emphasis):
        assert _cpu_seconds_to_render(text) < RENDER_SECONDS


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    units=st.lists(
        st.one_of(
            st.sampled_from(PATHOLOGICAL_UNITS), st.text(alphabet="[]()!*_`<>&#\\-:|{}^~ \na1", max_size=8)
        ),
        min_size=1,
        max_size=6,
    ),
    size=st.integers(min_value=1_000, max_value=SIZE),
)
def test_any_mix_of_pathological_markdown_renders_in_half_a_second(units: list[str], size: int) -> None:
    pattern = "".join(units) or "["
    assert _cpu_seconds_to_render(_repeat(pattern, size)) < RENDER_SECONDS


def test_runs_of_link_targets_that_never_close_render_in_half_a_second() -> None:
    """Each `](` made Python-Markdown scan to the end of its block: 8,000 characters of `[a](` took 1.1 s."""
    assert _cpu_seconds_to_render(_repeat("[a](", 8_000)) < RENDER_SECONDS / 5
    assert _cpu_seconds_to_render(_repeat("[a](" * 250 + "\n\n")) < RENDER_SECONDS
    assert _cpu_seconds_to_render(_repeat("[a](" * 300 + ")" * 300 + " ")) < RENDER_SECONDS
    assert _cpu_seconds_to_render(_repeat('[a]("x) ', 8_000)) < RENDER_SECONDS / 5


def test_links_with_parentheses_and_titles_still_work_after_far_reaching_targets_are_escaped() -> None:
    html = markdown_to_safe_html(
        '[a]( never closes [wiki](https://en.wikipedia.org/wiki/Tea_(drink) "Tea (drink)") and ![i](x.png)'
        + "\n\n[b]("
        + "x" * 3_000
        + ") [c](https://example.org)"
    )
    assert 'href="https://en.wikipedia.org/wiki/Tea_(drink)" title="Tea (drink)"' in html
    assert "[a]( never closes" in html
    assert "[b](xxx" in html
    assert 'href="https://example.org"' in html


def test_a_run_of_unmatched_brackets_is_escaped_but_links_keep_working() -> None:
    html = markdown_to_safe_html("[[[[ [site](https://example.org) and [^ref] [x]\n\n[^ref]: A note.")
    assert html.count("[") >= 4
    assert 'href="https://example.org"' in html
    assert "footnote" in html


def test_markup_too_intricate_to_lay_out_is_shown_as_escaped_text_under_a_note() -> None:
    html = markdown_to_safe_html("# a\n" * 20_000 + "<script>alert(1)</script>")
    assert PLAIN_TEXT_NOTE in html
    assert "&lt;script&gt;" in html
    assert "<h1>" not in html


def test_an_ordinary_long_lesson_is_rendered_as_markdown() -> None:
    section = "## Part\n\nSome *text* with a [link](https://example.org) and `code`.\n\n- one\n- two\n\n"
    html = markdown_to_safe_html(section * 60)
    assert PLAIN_TEXT_NOTE not in html
    assert html.count("<h2 ") == 60


def test_code_indented_deeply_inside_a_fence_is_still_rendered_as_code() -> None:
    html = markdown_to_safe_html("```\n" + "".join(" " * 4 * depth + "x\n" for depth in range(10)) + "```\n")
    assert PLAIN_TEXT_NOTE not in html
    assert "<code>" in html


def test_headings_get_prefixed_ids_and_the_text_cannot_set_any_other() -> None:
    html = markdown_to_safe_html('## Siege engines\n\n## Siege engines\n\n<h3 id="main">Raw</h3>')

    assert '<h2 id="s-siege-engines">Siege engines</h2>' in html
    assert '<h2 id="s-siege-engines_1">Siege engines</h2>' in html
    assert 'id="main"' not in html


def test_a_web_link_shows_the_domain_it_leads_to_unless_its_text_already_does() -> None:
    html = markdown_to_safe_html(
        "[the official docs](https://www.evil.example/login) and [python.org](https://python.org/doc) "
        "and <https://plain.example/x>"
    )
    assert '>the official docs</a> <small class="link-domain">(evil.example)</small>' in html
    assert 'python.org</a> <small class="link-domain">' not in html
    assert "(plain.example)" not in html  # an autolink's text is its address


def test_a_document_too_deep_for_the_renderer_leaves_the_next_one_rendered_whole() -> None:
    """3,000 characters of definitions (`a` / `: b`) recurse past Python's limit in Python-Markdown: shown as
    plain text, and the renderer it broke is not reused (every later document lost its links)."""
    deep = _repeat("a\n: b\n", 3_000)
    assert PLAIN_TEXT_NOTE in markdown_to_safe_html(deep)
    html = markdown_to_safe_html("A [link](https://example.org) in *a* paragraph.")
    assert html.startswith('<p>A <a href="https://example.org"')
    assert "<em>a</em>" in html
