"""The one module that talks HTTP to the outside for quality checks: Open Library (books), Crossref (articles),
Wikimedia Commons (pictures), and the link checker that fetches any http(s) link a lesson or reading cites.

Every call has a timeout (LOOKUPS_TIMEOUT_SECONDS), retries a 429, a 5xx or a dropped connection with backoff
(`school.retry.with_retries`, LOOKUPS_MAX_RETRIES), and is cached (Django's cache, LOOKUPS_CACHE_SECONDS).
Callers check `courses.quality.report.lookups_enabled()` first: nothing here runs offline.

The link checker only connects to public addresses: it resolves the name itself, refuses private, loopback,
link-local, multicast and reserved addresses, and connects to the address it vetted (so a second DNS answer
cannot point it elsewhere); each redirect is vetted again. It reads at most LINK_CHECK_MAX_BYTES.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import random
import socket
import ssl
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from django.conf import settings
from django.core.cache import cache

from school.retry import with_retries

MAX_REDIRECTS = 5
CACHE_PREFIX = "lookups:"
USER_AGENT = "Semester/1.0 (course quality checks; {site})"
REFUSED_ADDRESS = "refused: {host} is not a public address"
NOT_HTTP = "not an http(s) link"


class LookupFailed(Exception):
    """A lookup that gave no answer; `retryable` says whether another try may help."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class AddressRefused(LookupFailed):
    """The link's host resolves to an address the checker must not reach."""


# What a lesson or reading link may lead to: a page a learner reads in the browser. Anything else (an archive,
# a program, an octet stream, a file sent as an attachment) is flagged, though the link works.
READABLE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain", "application/pdf"})
NOT_A_PAGE = "not a page but a file of type {content_type}"
A_DOWNLOAD = "a download ({content_type}), not a page"


@dataclass(frozen=True)
class LinkResult:
    ok: bool | None  # None: not checked (not http(s), or not a public address)
    status: int | None
    content_type: str
    final_url: str
    detail: str
    problem: str = ""  # a link that works but leads to a download or a file that is not a page


# --------------------------------------------------------------------------------------------------------
# Catalogues and Commons (fixed hosts from the settings)
# --------------------------------------------------------------------------------------------------------


def openlibrary_search(*, title: str, author: str) -> list[dict[str, Any]]:
    """Open Library's search API: the best few books for a title and author."""
    params = {
        "title": title,
        "author": author,
        "limit": "5",
        "fields": "key,title,author_name,first_publish_year",
    }
    reply = get_json(f"{settings.OPENLIBRARY_URL}/search.json", {k: v for k, v in params.items() if v})
    return [doc for doc in reply.get("docs", []) if isinstance(doc, dict)]


def crossref_search(*, title: str, author: str) -> list[dict[str, Any]]:
    """Crossref's works search: the best few articles (or books) for a bibliographic query."""
    params = {"query.bibliographic": title, "rows": "5"}
    if author:
        params["query.author"] = author
    reply = get_json(f"{settings.CROSSREF_URL}/works", params)
    items = (reply.get("message") or {}).get("items", [])
    return [item for item in items if isinstance(item, dict)]


def crossref_doi(*, doi: str) -> dict[str, Any] | None:
    """Crossref's record of one DOI, or None if it has none."""
    try:
        reply = get_json(f"{settings.CROSSREF_URL}/works/{doi}", {})
    except LookupFailed as error:
        if "HTTP 404" in str(error):
            return None
        raise
    message = reply.get("message")
    return message if isinstance(message, dict) else None


def commons_search(*, query: str, limit: int = 8) -> list[dict[str, Any]]:
    """Files on Wikimedia Commons for a search, each with its image URL and licence metadata."""
    params = {
        "action": "query",
        "format": "json",
        "generator": "search",
        "gsrsearch": f"filetype:bitmap {query}",
        "gsrnamespace": "6",
        "gsrlimit": str(limit),
        "prop": "imageinfo",
        "iiprop": "url|extmetadata",
        "iiurlwidth": "800",
    }
    pages = (get_json(settings.COMMONS_API_URL, params).get("query") or {}).get("pages") or {}
    found = pages.values() if isinstance(pages, dict) else pages
    return sorted((page for page in found if isinstance(page, dict)), key=lambda page: page.get("index", 0))


def commons_file_exists(*, title: str) -> bool:
    """Whether the file still exists on Commons (not cached: this is the check before it is shown)."""
    params = {"action": "query", "format": "json", "titles": title, "prop": "imageinfo"}
    pages = (get_json(settings.COMMONS_API_URL, params, cached=False).get("query") or {}).get("pages") or {}
    found = pages.values() if isinstance(pages, dict) else pages
    return any(isinstance(page, dict) and "missing" not in page and page.get("imageinfo") for page in found)


def commons_file(*, title: str) -> dict[str, Any] | None:
    """One file's page as Commons describes it now (URL and licence metadata), or None if it does not exist.
    Not cached: a moderator's pick is checked against Commons itself, not against what a form sent back."""
    params = {
        "action": "query",
        "format": "json",
        "titles": title,
        "prop": "imageinfo",
        "iiprop": "url|extmetadata",
        "iiurlwidth": "800",
    }
    pages = (get_json(settings.COMMONS_API_URL, params, cached=False).get("query") or {}).get("pages") or {}
    found = pages.values() if isinstance(pages, dict) else pages
    return next(
        (
            page
            for page in found
            if isinstance(page, dict) and "missing" not in page and page.get("imageinfo")
        ),
        None,
    )


def get_json(url: str, params: dict[str, str], *, cached: bool = True) -> dict[str, Any]:
    """GET `url?params` as JSON: from the cache, else with retries; raises LookupFailed."""
    full = f"{url}?{urlencode(params)}" if params else url
    key = CACHE_PREFIX + hashlib.sha256(full.encode()).hexdigest()
    if cached and (hit := cache.get(key)) is not None:
        return dict(hit)

    def attempt() -> dict[str, Any]:
        status, headers, body, _ = _fetch(full, trusted=True)
        if status == 429 or status >= 500:
            raise LookupFailed(f"HTTP {status}", retryable=True, retry_after=_retry_after(headers))
        if status != 200:
            raise LookupFailed(f"HTTP {status}")
        try:
            reply = json.loads(body)
        except ValueError as error:
            raise LookupFailed("the reply is not JSON") from error
        return reply if isinstance(reply, dict) else {}

    reply = _retrying(attempt, what=f"lookup {urlsplit(url).netloc}")
    if cached:
        cache.set(key, reply, settings.LOOKUPS_CACHE_SECONDS)
    return reply


# --------------------------------------------------------------------------------------------------------
# Link checks (any host: vetted)
# --------------------------------------------------------------------------------------------------------


def link_check(url: str) -> LinkResult:
    """Follow the link (GET, redirects vetted one by one) and say whether it leads to a page."""
    key = CACHE_PREFIX + "link:" + hashlib.sha256(url.encode()).hexdigest()
    if (hit := cache.get(key)) is not None:
        return LinkResult(**hit)
    try:
        result = _retrying(lambda: _follow(url), what="link check")
    except AddressRefused as error:
        result = LinkResult(None, None, "", url, str(error))
    except LookupFailed as error:
        result = LinkResult(False, None, "", url, str(error))
    cache.set(key, asdict(result), settings.LOOKUPS_CACHE_SECONDS)
    return result


def _follow(url: str) -> LinkResult:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        status, headers, _, _ = _fetch(current, trusted=False)
        location = headers.get("location")
        if status in {301, 302, 303, 307, 308} and location:
            current = urljoin(current, location)
            continue
        if status == 429 or status >= 500:
            raise LookupFailed(f"HTTP {status}", retryable=True, retry_after=_retry_after(headers))
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        ok = 200 <= status < 300
        problem = _content_problem(content_type, headers) if ok else ""
        return LinkResult(ok, status, content_type, current, "" if ok else f"HTTP {status}", problem)
    return LinkResult(False, None, "", current, f"more than {MAX_REDIRECTS} redirects")


def _content_problem(content_type: str, headers: dict[str, str]) -> str:
    """Why a working link is not a page to read ("" if it is): sent as an attachment, or not a readable type.
    A reply without a content type is given the benefit of the doubt."""
    if headers.get("content-disposition", "").strip().lower().startswith("attachment"):
        return A_DOWNLOAD.format(content_type=content_type or "no content type")
    if content_type and content_type not in READABLE_TYPES:
        return NOT_A_PAGE.format(content_type=content_type)
    return ""


def _fetch(url: str, *, trusted: bool) -> tuple[int, dict[str, str], bytes, str]:
    """One GET; `trusted` hosts (our configured services) skip the public-address check."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise AddressRefused(NOT_HTTP)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = parts.hostname if trusted else _public_address(parts.hostname, port)
    connection = _connection(parts.scheme, parts.hostname, address, port)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", path, headers=_headers())
        response = connection.getresponse()
        body = response.read(settings.LINK_CHECK_MAX_BYTES)
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, body, url
    except TimeoutError as error:
        raise LookupFailed(f"no answer within {settings.LOOKUPS_TIMEOUT_SECONDS}s", retryable=True) from error
    except (OSError, http.client.HTTPException) as error:
        raise LookupFailed(f"connection failed: {error}", retryable=True) from error
    finally:
        connection.close()


def _headers() -> dict[str, str]:
    return {"User-Agent": USER_AGENT.format(site=settings.SITE_URL), "Accept": "*/*"}


def _public_address(host: str, port: int) -> str:
    """The first address `host` resolves to, if every one of them is public; else AddressRefused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise LookupFailed(f"no such host: {host}") from error
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(_allowed(address) for address in addresses):
        raise AddressRefused(REFUSED_ADDRESS.format(host=host))
    return str(addresses[0])


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.is_loopback:
        return settings.LINK_CHECK_ALLOW_LOOPBACK  # tests only: their fake pages listen on 127.0.0.1
    return address.is_global and not address.is_multicast


def _connection(scheme: str, host: str, address: str, port: int) -> http.client.HTTPConnection:
    timeout = settings.LOOKUPS_TIMEOUT_SECONDS
    if scheme == "https":
        return _PinnedHTTPSConnection(host, address, port, timeout)
    return _PinnedHTTPConnection(host, address, port, timeout)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Sends `Host: host` but connects to the address already vetted."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the vetted address, with the certificate checked against the host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _retrying(attempt: Any, *, what: str) -> Any:
    return with_retries(attempt, attempts=settings.LOOKUPS_MAX_RETRIES + 1, delay=_delay, what=what)


def _delay(attempt: int, retry_after: float | None) -> float:
    cap = settings.LOOKUPS_TIMEOUT_SECONDS
    if retry_after is not None:
        return min(cap, retry_after)
    return random.uniform(0, min(cap, 0.5 * 2 ** (attempt - 1)))


def _retry_after(headers: dict[str, str]) -> float | None:
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None
