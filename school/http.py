"""Small helpers about the incoming request, shared by the website and the API."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The visitor's IP address: the socket's peer, or, behind TRUSTED_PROXY_HOPS proxies of ours, the address
    the outermost of them saw (that many entries from the right of X-Forwarded-For: entries further left are
    whatever the client claimed). A header with fewer entries did not come through them all: the peer."""
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if hops and len(forwarded) >= hops and forwarded[-hops]:
        return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR") or "0.0.0.0")
