"""Cache backends for the hot pages: Redis without a new client per call, and a per-process layer in front of it
for values that never change under their key."""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_MISSING = object()


class _ReusingRedisCacheClient(RedisCacheClient):
    """Django's client builds a redis-py client for every call (each fills a ~170-entry table of reply
    callbacks: ~0.1 ms); one per connection pool does the same work. Django keeps a cache object per thread,
    so these clients are never shared between threads."""

    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingRedisCacheClient


class LocalFirstCache(BaseCache):
    """Process memory in front of a shared cache, for values that never change under their key (the key names
    their version: a course's content version, a learner's progress). A read that this process has seen costs
    no round trip; others read through to the shared cache and are kept here. Nothing is ever invalidated here,
    so never store a value whose key can outlive it.

    OPTIONS: SHARED, the alias of the cache behind (default "default"); MAX_ENTRIES kept in each process.
    """

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        options = params.get("OPTIONS", {})
        self._shared_alias = options.get("SHARED", "default")
        # LocMemCache keeps its entries per name, process-wide: every thread's instance sees the same ones.
        local_params = {
            "TIMEOUT": params.get("TIMEOUT", 300),
            "OPTIONS": {"MAX_ENTRIES": options.get("MAX_ENTRIES", 300)},
        }
        self._local = LocMemCache(f"local-first:{location}", local_params)

    @property
    def _shared(self) -> BaseCache:
        return caches[self._shared_alias]

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        value = self._local.get(key, _MISSING, version=version)
        if value is _MISSING:
            value = self._shared.get(key, _MISSING, version=version)
            if value is _MISSING:
                return default
            self._local.set(key, value, version=version)
        return value

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        timeout = self.default_timeout if timeout is DEFAULT_TIMEOUT else timeout
        self._shared.set(key, value, timeout=timeout, version=version)
        self._local.set(key, value, timeout=timeout, version=version)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        timeout = self.default_timeout if timeout is DEFAULT_TIMEOUT else timeout
        added = self._shared.add(key, value, timeout=timeout, version=version)
        if added:
            self._local.set(key, value, timeout=timeout, version=version)
        return added

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        timeout = self.default_timeout if timeout is DEFAULT_TIMEOUT else timeout
        self._local.touch(key, timeout=timeout, version=version)
        return self._shared.touch(key, timeout=timeout, version=version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        self._local.delete(key, version=version)
        return self._shared.delete(key, version=version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self.get(key, _MISSING, version=version) is not _MISSING

    def clear(self) -> None:
        """Empties this process's layer only: the shared cache holds other data too (clear it by its alias)."""
        self._local.clear()
