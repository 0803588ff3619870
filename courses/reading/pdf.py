"""PDF rendering: the only module that imports WeasyPrint.

The HTML it receives is built from our templates and sanitized lesson HTML. It may fetch nothing from the
disk and nothing from the network but the lessons' pictures (Wikimedia Commons' upload host): every style is
inline, and sanitized lessons hold no images of their own.

The PDF is tagged to PDF/UA-1 (its structure tree lets screen readers read it in order, with its headings, lists
and tables), and WeasyPrint turns the headings the template leaves in the outline into bookmarks.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

STAGE_LAYOUT = "Laying out the pages"
STAGE_WRITING = "Writing the PDF file"
PDF_VARIANT = "pdf/ua-1"  # tagged, with the document's title and language in its metadata


def pdf_from_html(*, html: str, on_stage: Callable[[str], None] | None = None) -> bytes:
    """Render `html` to PDF bytes, reporting each stage (layout is the slow one) to `on_stage`."""
    # Imported here, not at the top: only the PDF worker pays for loading WeasyPrint, not every web process.
    import weasyprint

    report = on_stage or (lambda stage: None)
    # data: URIs, and the lessons' pictures on Wikimedia Commons' upload host; anything else a lesson might
    # smuggle in (file://, http://, another host) is refused. A picture that cannot be fetched is left out.
    fetcher = _picture_fetcher_class()(allowed_protocols={"data", "https"}, allow_redirects=False, timeout=5)
    report(STAGE_LAYOUT)
    source = weasyprint.HTML(string=html, url_fetcher=fetcher)
    document = source.render()
    # Layout leaves its parsed HTML and cycles of garbage behind: freed before writing the file needs as much
    # again, a 13-week course's render peaks ~30 MB lower, for ~0.4 s (bench/README.md, bench_pdf.py).
    del source
    gc.collect()
    report(STAGE_WRITING)
    pdf = document.write_pdf(pdf_variant=PDF_VARIANT)
    assert isinstance(pdf, bytes)
    return pdf


def pdf_warm_up() -> None:
    """Load WeasyPrint, its stylesheets and the fonts, as a PDF worker process starts: otherwise the first PDF
    it makes waits about a second longer for them."""
    pdf_from_html(html='<html lang="en"><title>Semester</title><p>Semester</p></html>')


PICTURE_PREFIX = "https://upload.wikimedia.org/"


def _picture_fetcher_class() -> type:
    """A URL fetcher for data: URIs and Commons pictures only (a class made here: WeasyPrint loads lazily)."""
    from weasyprint.urls import URLFetcher

    class PictureFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: object = None) -> object:
            if not url.startswith(("data:", PICTURE_PREFIX)):
                raise ValueError(f"not fetched: {url[:80]}")  # WeasyPrint leaves the resource out
            return super().fetch(url, headers)

    return PictureFetcher
