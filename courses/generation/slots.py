"""A global cap on LLM calls in flight (`LLM_MAX_CONCURRENCY`), shared by every worker process.

With Redis, the slots are members of one sorted set scored by their lease expiry: a Lua script drops expired
leases and takes a free slot atomically, so a worker killed mid-call gives its slot back when the lease ends
(`LLM_SLOT_LEASE_SECONDS`, longer than any call can last). Redis's own clock scores the leases, so workers on
machines with skewed clocks still agree. Without Redis (one process, eager tasks), a threading semaphore does.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from django.conf import settings
from redis.commands.core import Script

from school.redis_client import redis_client

SLOTS_KEY = "semester:llm:slots"
# Waiting callers poll; a short random pause spreads them out so they do not retry in lockstep.
POLL_SECONDS = (0.005, 0.03)

ACQUIRE_SCRIPT = """
local key, token = KEYS[1], ARGV[1]
local limit, lease_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZCARD', key) >= limit then
  return 0
end
redis.call('ZADD', key, now + lease_ms, token)
redis.call('PEXPIRE', key, lease_ms)
return 1
"""


@contextmanager
def llm_slot() -> Iterator[None]:
    """Hold one of the LLM_MAX_CONCURRENCY slots for the duration of the block, waiting for one if needed."""
    limit = settings.LLM_MAX_CONCURRENCY
    if not settings.REDIS_URL:
        with _local_semaphore(limit):
            yield
        return
    client = redis_client(settings.REDIS_URL)
    acquire = _acquire_script(settings.REDIS_URL)
    token = uuid.uuid4().hex
    lease_ms = int(settings.LLM_SLOT_LEASE_SECONDS * 1000)
    while not acquire(keys=[SLOTS_KEY], args=[token, limit, lease_ms]):
        time.sleep(random.uniform(*POLL_SECONDS))
    try:
        yield
    finally:
        client.zrem(SLOTS_KEY, token)


def slots_in_use() -> int:
    """Slots held right now (leases not yet expired), for monitoring and tests."""
    if not settings.REDIS_URL:
        return 0
    client = redis_client(settings.REDIS_URL)
    now_ms = int(time.time() * 1000)
    return int(client.zcount(SLOTS_KEY, now_ms, "+inf"))


@cache
def _acquire_script(url: str) -> Script:
    return redis_client(url).register_script(ACQUIRE_SCRIPT)


@cache
def _local_semaphore(limit: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(limit)
