"""The key cache: TTLs, remembered absences, invalidation and the load-versus-invalidation race."""

from __future__ import annotations

from oneflow_ai.auth.principal import Principal
from oneflow_ai.identity.cache import MISS, KeyCache, KeyEntry

ENTRY = KeyEntry(Principal(key_id="key_1"))


def test_entries_live_their_ttl_and_absences_live_shorter() -> None:
    cache = KeyCache(ttl_s=30, negative_ttl_s=1)
    cache.put("a", ENTRY, cache.epoch, now=0)
    cache.put("b", None, cache.epoch, now=0)
    assert cache.get("a", 29.9) is ENTRY and cache.get("b", 0.9) is None
    assert cache.get("a", 30) is MISS and cache.get("b", 1) is MISS
    assert cache.get("c", 0) is MISS


def test_invalidation_forgets_and_a_load_that_started_before_it_is_not_stored() -> None:
    cache = KeyCache(ttl_s=30)
    cache.put("a", ENTRY, cache.epoch, now=0)
    started = cache.epoch  # a database read begins ...
    cache.invalidate(["a"])  # ... the key is revoked meanwhile ...
    cache.put("a", ENTRY, started, now=1)  # ... and the stale read comes back
    assert cache.get("a", 1) is MISS
    cache.put("a", ENTRY, cache.epoch, now=1)
    cache.invalidate(None)
    assert cache.get("a", 1) is MISS


def test_the_cache_is_bounded() -> None:
    cache = KeyCache(ttl_s=30, max_entries=100)
    for i in range(1000):
        cache.put(str(i), ENTRY, cache.epoch, now=0)
    assert len(cache) <= 100 and cache.get("999", 0) is ENTRY
