"""Fixed-window counters in the shared cache, for limits that must hold across every web process."""

from __future__ import annotations

import hashlib

from django.core.cache import cache


def rate_limit_key(*parts: object) -> str:
    """A cache key for the given parts; hashed, so addresses and IPs never sit in Redis in clear."""
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()[:32]
    return f"ratelimit:{digest}"


def rate_limit_hit(*, key: str, limit: int, window_seconds: int, hits: int = 1) -> bool:
    """Count `hits` on `key`; True when they go over `limit` within the window."""
    # add() only creates the counter (with its expiry) if it is missing, so the window starts at the
    # first hit and incr() is atomic on Redis: two processes never both see the last free slot.
    cache.add(key, 0, timeout=window_seconds)
    try:
        count = cache.incr(key, hits)
    except ValueError:  # the key expired between add() and incr()
        cache.add(key, hits, timeout=window_seconds)
        count = hits
    return count > limit


def rate_limit_release(*, key: str, hits: int = 1) -> None:
    """Give back hits, for work that turned out not to count (e.g. a course that was reused, or a request
    refused for going over)."""
    try:
        if int(cache.get(key, 0)) >= hits:
            cache.decr(key, hits)
    except ValueError:
        pass
