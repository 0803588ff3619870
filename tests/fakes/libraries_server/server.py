"""The fake: catalogues the tests fill in (``books``, ``works``, ``pictures``, ``searches``, ``pages``), answered
in the shapes of the real APIs, with a fault knob (``fail_next``) and a record of every request."""

from __future__ import annotations

import re
import threading
from collections import deque
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes._http import LoopbackFake, Reply

WORD = re.compile(r"\w+")
HTML = "text/html; charset=utf-8"


def book(title: str, author: str, year: int = 2000, key: str = "") -> dict[str, Any]:
    """An Open Library search document."""
    slug = key or f"/works/OL{abs(hash(title)) % 10**6}W"
    return {"key": slug, "title": title, "author_name": [author], "first_publish_year": year}


def work(title: str, given: str, family: str, doi: str, year: int = 2010) -> dict[str, Any]:
    """A Crossref work."""
    return {
        "DOI": doi,
        "title": [title],
        "author": [{"given": given, "family": family}],
        "issued": {"date-parts": [[year]]},
        "URL": f"https://doi.org/{doi}",
    }


def picture(title: str, licence: str, artist: str = "Jane Doe", exists: bool = True) -> dict[str, Any]:
    """A Commons file page as the API's imageinfo/extmetadata describes it; ``exists`` False: since deleted."""
    name = title.replace(" ", "_")
    return {
        "title": f"File:{title}",
        "exists": exists,
        "imageinfo": [
            {
                "url": f"https://upload.wikimedia.org/wikipedia/commons/a/ab/{name}",
                "thumburl": f"https://upload.wikimedia.org/wikipedia/commons/thumb/a/ab/{name}/800px-{name}",
                "descriptionurl": f"https://commons.wikimedia.org/wiki/File:{name}",
                "extmetadata": {
                    "LicenseShortName": {"value": licence},
                    "LicenseUrl": {"value": "https://creativecommons.org/licenses/by-sa/4.0"},
                    "Artist": {
                        "value": f'<a href="https://commons.wikimedia.org/wiki/User:{artist}">{artist}</a>'
                    },
                    "ImageDescription": {"value": f"<p>{title}</p>"},
                },
            }
        ],
    }


class FakeLibraries(LoopbackFake):
    thread_name = "fake-libraries"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.books: list[dict[str, Any]] = []
        self.works: list[dict[str, Any]] = []
        self.pictures: list[dict[str, Any]] = []
        # word -> the Commons files a search containing that word finds instead of ``pictures``
        self.searches: dict[str, list[dict[str, Any]]] = {}
        # path -> status (an HTML page), ("redirect", location), or (status, headers): e.g. a download
        self.pages: dict[str, int | tuple[str, str] | tuple[int, dict[str, str]]] = {}
        self.requests: list[str] = []
        self._faults: deque[int] = deque()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def settings_for(self, settings: Any) -> None:
        """Point Semester's lookups at this fake (and let the link checker reach loopback, for its pages)."""
        settings.OPENLIBRARY_URL = f"{self.base_url}/openlibrary"
        settings.CROSSREF_URL = f"{self.base_url}/crossref"
        settings.COMMONS_API_URL = f"{self.base_url}/commons/w/api.php"
        settings.LINK_CHECK_ALLOW_LOOPBACK = True

    def fail_next(self, status: int = 503, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([status] * times)

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        parts = urlsplit(path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append(path)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            return Reply(fault, {"error": "fault"}, {"Retry-After": "0"})
        if parts.path == "/openlibrary/search.json":
            return Reply(
                200, {"docs": self._search(self.books, query.get("title", ""), lambda b: b["title"])}
            )
        if parts.path == "/crossref/works":
            found = self._search(self.works, query.get("query.bibliographic", ""), lambda w: w["title"][0])
            return Reply(200, {"status": "ok", "message": {"items": found}})
        if parts.path.startswith("/crossref/works/"):
            doi = parts.path.removeprefix("/crossref/works/")
            match = next((w for w in self.works if w["DOI"].casefold() == doi.casefold()), None)
            return (
                Reply(200, {"status": "ok", "message": match})
                if match
                else Reply(404, {"message": "not found"})
            )
        if parts.path == "/commons/w/api.php":
            return Reply(200, self._commons(query))
        return self._page(parts.path)

    def _search(self, items: list[dict[str, Any]], text: str, title_of: Any) -> list[dict[str, Any]]:
        """Like a search engine: anything sharing a word with the query, best overlap first."""
        wanted = set(WORD.findall(text.casefold()))
        scored = [(len(wanted & set(WORD.findall(title_of(item).casefold()))), item) for item in items]
        return [item for score, item in sorted(scored, key=lambda pair: -pair[0]) if score]

    def _commons(self, query: dict[str, str]) -> dict[str, Any]:
        every = [*self.pictures, *(page for found in self.searches.values() for page in found)]
        if "titles" in query:
            page = next((p for p in every if p["title"] == query["titles"]), None)
            if page is None or not page["exists"]:
                return {"query": {"pages": {"-1": {"title": query["titles"], "missing": ""}}}}
            return {"query": {"pages": {"1": {k: v for k, v in page.items() if k != "exists"}}}}
        words = set(WORD.findall(query.get("gsrsearch", "").casefold()))
        found = next((found for word, found in self.searches.items() if word in words), self.pictures)
        pages = {
            str(index + 1): {"index": index + 1, **{k: v for k, v in page.items() if k != "exists"}}
            for index, page in enumerate(found)
        }
        return {"batchcomplete": "", "query": {"pages": pages}} if pages else {"batchcomplete": ""}

    def _page(self, path: str) -> Reply:
        page = self.pages.get(path, 404)
        if isinstance(page, tuple) and page[0] == "redirect":
            return Reply(302, None, {"Location": str(page[1])})
        if isinstance(page, tuple) and isinstance(page[1], dict):
            return Reply(int(page[0]), None, page[1])
        return Reply(int(page[0]) if isinstance(page, tuple) else page, None, {"Content-Type": HTML})
