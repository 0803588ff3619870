from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache, caches

from school.cache import LocalFirstCache, RedisCache


def redis_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    import redis.client

    calls: list[tuple[Any, ...]] = []
    original = redis.client.Redis.execute_command

    def counting(self: Any, *args: Any, **options: Any) -> Any:
        calls.append(args)
        return original(self, *args, **options)

    monkeypatch.setattr(redis.client.Redis, "execute_command", counting)
    return calls


def test_the_default_cache_is_redis_and_reuses_one_client_across_calls() -> None:
    default = caches["default"]
    assert isinstance(default, RedisCache)
    default.set("reuse", 1)
    client = default._cache.get_client(write=True)
    assert default._cache.get_client() is client
    assert default.get("reuse") == 1
    assert default._cache.get_client("reuse", write=True) is client


def test_a_versioned_value_read_once_is_then_served_from_process_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    versioned = caches["versioned"]
    assert isinstance(versioned, LocalFirstCache)
    cache.set("structure:v7", ("week 1", "week 2"))  # written by another process
    calls = redis_round_trips(monkeypatch)
    assert versioned.get("structure:v7") == ("week 1", "week 2")
    assert len(calls) == 1
    assert versioned.get("structure:v7") == ("week 1", "week 2")
    assert versioned.get_many(["structure:v7"]) == {"structure:v7": ("week 1", "week 2")}
    assert len(calls) == 1


def test_a_versioned_value_is_written_through_to_the_shared_cache_for_the_other_processes() -> None:
    versioned = caches["versioned"]
    versioned.set("outline:abc", "<ol>…</ol>", timeout=60)
    assert cache.get("outline:abc") == "<ol>…</ol>"
    assert versioned.add("outline:abc", "other") is False
    assert versioned.get("outline:abc") == "<ol>…</ol>"


def test_a_missing_versioned_value_is_not_remembered_as_missing() -> None:
    versioned = caches["versioned"]
    assert versioned.get("late", "default") == "default"
    cache.set("late", "written since")
    assert versioned.get("late") == "written since"


def test_deleting_a_versioned_value_removes_both_copies() -> None:
    versioned = caches["versioned"]
    versioned.set("gone", 1)
    versioned.delete("gone")
    assert versioned.get("gone") is None
    assert cache.get("gone") is None
    assert not versioned.has_key("gone")
