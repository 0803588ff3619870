"""A loopback fake of the outside services the quality checks use: Open Library's search, Crossref's works,
Wikimedia Commons' API, and plain web pages for the link checker, all on one port::

    with FakeLibraries() as fake:
        fake.books.append(book("The Roman Empire", "Peter Heather"))
        fake.pages["/pages/ok"] = 200
        ...

Stdlib only. Point OPENLIBRARY_URL, CROSSREF_URL and COMMONS_API_URL at ``fake.openlibrary_url`` and the
others (the ``settings_for`` helper does it).
"""

from tests.fakes.libraries_server.server import FakeLibraries, book, picture, work

__all__ = ["FakeLibraries", "book", "picture", "work"]
