from __future__ import annotations

import pytest

from courses.rendering import markdown_to_safe_html

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


def test_headings_get_prefixed_ids_and_the_text_cannot_set_any_other() -> None:
    html = markdown_to_safe_html('## Siege engines\n\n## Siege engines\n\n<h3 id="main">Raw</h3>')

    assert '<h2 id="s-siege-engines">Siege engines</h2>' in html
    assert '<h2 id="s-siege-engines_1">Siege engines</h2>' in html
    assert 'id="main"' not in html
