from __future__ import annotations

import pytest
from django.core.cache import cache, caches


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Each test starts with an empty cache (Redis db 15), so rate limits and locks don't leak between tests."""
    cache.clear()
    caches["versioned"].clear()  # this process's copies of versioned values, in front of Redis
    caches["local"].clear()
