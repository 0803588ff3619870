"""Fixed-window counters in the shared cache, for limits that must hold across every web process."""

from __future__ import annotations

import hashlib

from django.core.cache import cache


def rate_limit_key(*parts: object) -> str:
    """A cache key for the given parts; hashed, so addresses and IPs never sit in Redis in clear."""
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()[:32]
    return f"ratelimit:{digest}"


def rate_limit_hit(*, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit on `key`; True when that hit goes over `limit` within the window."""
    # add() only creates the counter (with its expiry) if it is missing, so the window starts at the
    # first hit and incr() is atomic on Redis: two processes never both see the last free slot.
    cache.add(key, 0, timeout=window_seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add() and incr()
        cache.add(key, 1, timeout=window_seconds)
        count = 1
    return count > limit


def rate_limit_release(*, key: str) -> None:
    """Give back one hit, for work that turned out not to count (e.g. a course that was reused)."""
    try:
        if int(cache.get(key, 0)) > 0:
            cache.decr(key)
    except ValueError:
        pass
