"""Readings looked up in Open Library and Crossref, links checked, and the one HTTP module's timeout, retries,
cache and address rules; against the fake libraries on loopback."""

from __future__ import annotations

from typing import Any

import pytest

from courses.models import LinkCheck, Week
from courses.quality import links, lookups, readings
from courses.reading.exports import course_markdown, course_pdf_html
from tests.factories import written_course
from tests.fakes.libraries_server import FakeLibraries, book, work


def test_a_book_the_catalogue_knows_is_verified_with_its_canonical_record(libraries: FakeLibraries) -> None:
    libraries.books += [book("SPQR: A History of Ancient Rome", "Mary Beard", 2015, "/works/OL1W")]

    item = readings.reading_verify({"title": "SPQR", "author": "Mary Beard", "url": "", "note": "A history."})

    assert (item["checked"], item["verified"], item["hidden"]) == (True, True, False)
    assert item["record"] == {
        "source": "Open Library",
        "title": "SPQR: A History of Ancient Rome",
        "authors": ["Mary Beard"],
        "year": 2015,
        "url": f"{libraries.base_url}/openlibrary/works/OL1W",
    }


def test_an_invented_book_is_not_verified_and_dropped_only_when_the_setting_says_so(
    libraries: FakeLibraries, settings: Any
) -> None:
    libraries.books += [book("Aqueducts of Rome", "Thomas Ashby")]
    invented = {
        "title": "The Aqueducts of Rome and Their Secret Engineers",
        "author": "Marcus Vitruvian",
        "url": "",
    }

    shown = readings.reading_verify(invented)
    settings.QUALITY_UNVERIFIED_READINGS = "drop"
    dropped = readings.reading_verify(invented)

    assert (shown["verified"], shown["hidden"], shown["record"]) == (False, False, None)
    assert (dropped["verified"], dropped["hidden"]) == (False, True)


def test_a_right_title_by_the_wrong_author_is_not_verified(libraries: FakeLibraries) -> None:
    libraries.books += [book("Aqueducts of Rome", "Thomas Ashby")]

    assert not readings.reading_verify({"title": "Aqueducts of Rome", "author": "Jane Smith"})["verified"]


def test_an_article_is_verified_by_its_doi_in_crossref(libraries: FakeLibraries) -> None:
    libraries.works += [work("Water supply of ancient Rome", "A. Trevor", "Hodge", "10.1234/rome.1")]

    item = readings.reading_verify(
        {"title": "Water supply of ancient Rome", "author": "Hodge", "url": "https://doi.org/10.1234/rome.1"}
    )

    assert item["verified"]
    assert item["record"]["url"] == "https://doi.org/10.1234/rome.1"
    assert libraries.requests == ["/crossref/works/10.1234/rome.1"]


@pytest.mark.django_db
def test_a_courses_readings_are_looked_up_once(libraries: FakeLibraries) -> None:
    course = written_course(weeks=2, lessons_per_week=1)
    Week.objects.filter(course=course, number=1).update(
        reading_list=[{"title": "SPQR", "author": "Mary Beard", "url": "", "note": ""}]
    )
    libraries.books += [book("SPQR: A History of Ancient Rome", "Mary Beard")]

    assert readings.course_readings_verify(course_id=course.pk) == 1
    asked = len(libraries.requests)
    readings.course_readings_verify(course_id=course.pk)

    assert len(libraries.requests) == asked
    assert Week.objects.get(course=course, number=1).reading_list[0]["verified"]


def test_a_catalogue_that_fails_once_is_asked_again_and_its_answer_cached(libraries: FakeLibraries) -> None:
    libraries.books += [book("SPQR", "Mary Beard")]
    libraries.fail_next(503)

    first = lookups.openlibrary_search(title="SPQR", author="Mary Beard")
    second = lookups.openlibrary_search(title="SPQR", author="Mary Beard")

    assert first == second == libraries.books
    assert len(libraries.requests) == 2  # the 503, its retry; the second search came from the cache


@pytest.mark.django_db
def test_links_are_checked_following_redirects_and_dead_ones_are_flagged(libraries: FakeLibraries) -> None:
    libraries.pages.update({"/pages/ok": 200, "/pages/moved": ("redirect", "/pages/ok")})
    ok, moved, dead = (f"{libraries.base_url}/pages/{name}" for name in ("ok", "moved", "gone"))

    checks = links.links_check(urls=[ok, moved, dead])

    assert [(check.ok, check.status) for check in checks] == [(True, 200), (True, 200), (False, 404)]
    assert checks[1].final_url == ok
    assert checks[0].content_type == "text/html"
    assert LinkCheck.objects.get(url=dead).detail == "HTTP 404"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.8/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://192.168.1.1/",
    ],
)
def test_the_link_checker_refuses_private_link_local_and_loopback_addresses(url: str) -> None:
    result = lookups.link_check(url)

    assert result.ok is None
    assert result.detail.startswith("refused:")


def test_loopback_is_refused_unless_the_test_only_setting_allows_it(
    libraries: FakeLibraries, settings: Any
) -> None:
    libraries.pages["/pages/ok"] = 200
    settings.LINK_CHECK_ALLOW_LOOPBACK = False

    result = lookups.link_check(f"{libraries.base_url}/pages/ok")

    assert (result.ok, result.detail) == (None, "refused: 127.0.0.1 is not a public address")
    assert libraries.requests == []


def test_links_in_lessons_and_readings_are_found() -> None:
    text = "See [the museum](https://example.org/museum). Or <https://example.org/a?b=1>, and http://x.org/y."
    assert links.text_links(text) == [
        "https://example.org/museum",
        "https://example.org/a?b=1",
        "http://x.org/y",
    ]


@pytest.mark.django_db
def test_exports_say_which_readings_were_verified_and_leave_out_dropped_ones() -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    record = {"source": "Open Library", "url": "https://openlibrary.org/works/OL1W"}
    Week.objects.filter(course=course).update(
        reading_list=[
            {
                "title": "SPQR",
                "author": "Mary Beard",
                "url": "",
                "note": "",
                "checked": True,
                "verified": True,
                "record": record,
            },
            {
                "title": "Invented",
                "author": "Nobody",
                "url": "",
                "note": "",
                "checked": True,
                "verified": False,
            },
            {"title": "Dropped", "author": "Nobody", "url": "", "note": "", "checked": True, "hidden": True},
            {"title": "Not looked up", "author": "Someone", "url": "", "note": ""},
        ]
    )

    markdown = course_markdown(course=course)
    pdf = course_pdf_html(course=course)

    assert (
        "- [SPQR](https://openlibrary.org/works/OL1W), Mary Beard (verified in a library catalogue)"
        in markdown
    )
    assert "- Invented, Nobody (suggested, not verified)" in markdown
    assert "- Not looked up, Someone\n" in markdown
    assert "Dropped" not in markdown
    assert "Dropped" not in pdf
    assert "<em>(suggested, not verified)</em>" in pdf


@pytest.mark.django_db
def test_a_link_to_a_download_or_to_a_file_that_is_not_a_page_works_but_is_flagged(
    libraries: FakeLibraries,
) -> None:
    libraries.pages.update(
        {
            "/pages/article": (200, {"Content-Type": "text/html; charset=utf-8"}),
            "/pages/paper.pdf": (200, {"Content-Type": "application/pdf"}),
            "/pages/notes.txt": (200, {"Content-Type": "text/plain"}),
            "/pages/source.zip": (200, {"Content-Type": "application/zip"}),
            "/pages/blob": (200, {"Content-Type": "application/octet-stream"}),
            "/pages/slides": (
                200,
                {"Content-Type": "text/html", "Content-Disposition": 'attachment; filename="slides.html"'},
            ),
            "/pages/moved-zip": ("redirect", "/pages/source.zip"),
        }
    )
    names = ("article", "paper.pdf", "notes.txt", "source.zip", "blob", "slides", "moved-zip")

    checks = links.links_check(urls=[f"{libraries.base_url}/pages/{name}" for name in names])

    assert [(check.ok, check.content_type) for check in checks] == [
        (True, "text/html"),
        (True, "application/pdf"),
        (True, "text/plain"),
        (True, "application/zip"),
        (True, "application/octet-stream"),
        (True, "text/html"),
        (True, "application/zip"),  # the type of where the redirects end
    ]
    assert [check.problem for check in checks] == [
        "",
        "",
        "",
        lookups.NOT_A_PAGE.format(content_type="application/zip"),
        lookups.NOT_A_PAGE.format(content_type="application/octet-stream"),
        lookups.A_DOWNLOAD.format(content_type="text/html"),
        lookups.NOT_A_PAGE.format(content_type="application/zip"),
    ]
    assert LinkCheck.objects.get(url=checks[5].url).problem == checks[5].problem
