"""One Redis client per URL for the code that talks to Redis itself (LLM slots, the spend counter, the tutor's
live answers), rather than through Django's cache."""

from __future__ import annotations

from functools import cache

import redis


@cache
def redis_client(url: str) -> redis.Redis:
    # A caller waits for one of the pool's connections rather than failing: redis-py's default pool raises
    # "Too many connections" past 100, and one worker may run more LLM calls at once than that.
    return redis.Redis(
        connection_pool=redis.BlockingConnectionPool.from_url(url, max_connections=100, timeout=30)
    )
