"""Small helpers about the incoming request, shared by the website and the API."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The visitor's IP address: the socket's peer, or, behind our own HTTPS proxy, the address that proxy
    saw (the last entry of X-Forwarded-For; earlier entries are whatever the client claimed)."""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()
    return str(request.META.get("REMOTE_ADDR") or "0.0.0.0")
