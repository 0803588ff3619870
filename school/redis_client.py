"""One Redis client per URL for the code that talks to Redis itself (LLM slots, the spend counter, the tutor's
live answers), rather than through Django's cache; and, for the stream server's event loop, an asyncio one."""

from __future__ import annotations

from functools import cache

import redis
import redis.asyncio


@cache
def redis_client(url: str) -> redis.Redis:
    # A caller waits for one of the pool's connections rather than failing: redis-py's default pool raises
    # "Too many connections" past 100, and one worker may run more LLM calls at once than that.
    return redis.Redis(
        connection_pool=redis.BlockingConnectionPool.from_url(url, max_connections=100, timeout=30)
    )


def async_redis_client(url: str) -> redis.asyncio.Redis:
    """An asyncio client with a pool of its own, for one event loop (its connections belong to that loop): the
    caller keeps it. No CLIENT SETINFO on connecting: redis-py reads its version from its package metadata each
    time, which was most of a stream's CPU while each opened its own connections."""
    return redis.asyncio.from_url(url, driver_info=None)
