"""Small helpers about the incoming request, shared by the website and the API."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class NoIndexMiddleware:
    """X-Robots-Tag: noindex on responses whose view marked the request (`courses.visibility.noindex_mark`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "semester_noindex", False):
            response["X-Robots-Tag"] = "noindex, nofollow"
        return response


def client_ip(request: HttpRequest) -> str:
    """The visitor's IP address: the socket's peer, or, behind TRUSTED_PROXY_HOPS proxies of ours, the address
    the outermost of them saw (that many entries from the right of X-Forwarded-For: entries further left are
    whatever the client claimed). A header with fewer entries did not come through them all: the peer."""
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if hops and len(forwarded) >= hops and forwarded[-hops]:
        return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR") or "0.0.0.0")
