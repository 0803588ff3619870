"""PDF rendering: the only module that imports WeasyPrint.

The HTML it receives is built from our templates and sanitized lesson HTML. It may fetch nothing from the
network or the disk: every style is inline and lessons hold no images.

The PDF is tagged to PDF/UA-1 (its structure tree lets screen readers read it in order, with its headings, lists
and tables), and WeasyPrint turns the headings the template leaves in the outline into bookmarks.
"""

from __future__ import annotations

from collections.abc import Callable

STAGE_LAYOUT = "Laying out the pages"
STAGE_WRITING = "Writing the PDF file"
PDF_VARIANT = "pdf/ua-1"  # tagged, with the document's title and language in its metadata


def pdf_from_html(*, html: str, on_stage: Callable[[str], None] | None = None) -> bytes:
    """Render `html` to PDF bytes, reporting each stage (layout is the slow one) to `on_stage`."""
    # Imported here, not at the top: only the PDF worker pays for loading WeasyPrint, not every web process.
    import weasyprint
    from weasyprint.urls import URLFetcher

    report = on_stage or (lambda stage: None)
    # data: URIs only; anything else a lesson might smuggle in (file://, http://) is refused.
    fetcher = URLFetcher(allowed_protocols={"data"}, timeout=1)
    report(STAGE_LAYOUT)
    document = weasyprint.HTML(string=html, url_fetcher=fetcher).render()
    report(STAGE_WRITING)
    pdf = document.write_pdf(pdf_variant=PDF_VARIANT)
    assert isinstance(pdf, bytes)
    return pdf
