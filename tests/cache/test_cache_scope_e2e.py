"""Issue 18, scope: two tenants never share an entry (the in-process and the Redis store), two gateways on one
Redis share entries, and the admin API sees and clears the caller's tenant only (the master key: every tenant)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.cache.conftest import Start, admin, prompt, sdk, tenant_key, upstream_calls
from tests.conftest import SHARED_REDIS_URL
from tests.fakes.runner import AiohttpServer, UvicornServer


def ask(url: str, key: str, text: str, model: str = "mini") -> str:
    r = sdk(url, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], temperature=0
    )
    return r.headers["x-oneflow-cache"]


def wait_stats(url: str, key: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The admin stats once `ready` holds of them (an answer is kept just after it is sent: in Redis, a round trip
    later)."""
    deadline = time.monotonic() + 30
    while True:
        stats: dict[str, Any] = admin(url, "GET", "/cache/stats", key).json()
        if ready(stats) or time.monotonic() > deadline:
            return stats
        time.sleep(0.02)


@pytest.fixture(scope="module")
def memory_gw(start_cached: Start) -> UvicornServer:
    server: UvicornServer = start_cached("scope-memory")
    return server


@pytest.fixture(scope="module")
def redis_gws(start_cached: Start) -> tuple[UvicornServer, UvicornServer]:
    """Two gateways (two replicas) on one Redis and one database."""
    return (
        start_cached("replica-1", redis_url=SHARED_REDIS_URL, database="replicas"),
        start_cached("replica-2", redis_url=SHARED_REDIS_URL, database="replicas"),
    )


@pytest.fixture(params=["memory", "redis"])
def gw(request: pytest.FixtureRequest) -> UvicornServer:
    if request.param == "memory":
        server: UvicornServer = request.getfixturevalue("memory_gw")
        return server
    return request.getfixturevalue("redis_gws")[0]  # type: ignore[no-any-return]


def forget_redis(redis_leftovers: Callable[[str], None], *tenants: str) -> None:
    for tenant in tenants:
        redis_leftovers(f"oneflow:cache:exact:{tenant}:*")


def test_two_tenants_never_share_an_entry(
    gw: UvicornServer, module_upstream: AiohttpServer, redis_leftovers: Callable[[str], None]
) -> None:
    a, key_a = tenant_key(gw.url)
    b, key_b = tenant_key(gw.url)
    forget_redis(redis_leftovers, a, b)
    text = prompt("tenants")
    assert ask(gw.url, key_a, text) == "miss"
    wait_stats(gw.url, key_a, lambda s: s["entries"] == 1)
    assert ask(gw.url, key_b, text) == "miss"  # the same prompt from another tenant: not A's entry
    assert upstream_calls(module_upstream, text) == 2
    wait_stats(gw.url, key_b, lambda s: s["entries"] == 1)
    assert ask(gw.url, key_a, text) == "hit" and ask(gw.url, key_b, text) == "hit"
    assert upstream_calls(module_upstream, text) == 2
    # and a second key of A shares A's entries (scope: tenant)
    _, other_a = tenant_key(gw.url, "member", tenant=a)
    assert ask(gw.url, other_a, text) == "hit"


def test_two_gateways_on_one_redis_share_entries(
    redis_gws: tuple[UvicornServer, UvicornServer],
    module_upstream: AiohttpServer,
    redis_leftovers: Callable[[str], None],
) -> None:
    one, two = redis_gws
    tenant, key = tenant_key(one.url)
    forget_redis(redis_leftovers, tenant)
    text = prompt("replicas")
    assert ask(one.url, key, text) == "miss"
    stats = wait_stats(two.url, key, lambda s: s["entries"] == 1)  # seen from the other replica
    assert stats["store"] == "redis" and stats["tenant"] == tenant
    assert ask(two.url, key, text) == "hit"
    assert upstream_calls(module_upstream, text) == 1
    stats = wait_stats(one.url, key, lambda s: s["hits"] == 1)
    assert (stats["entries"], stats["hits"], stats["misses"]) == (1, 1, 1)  # counted once, whichever served it
    assert float(stats["saved_usd"]) > 0


def test_admin_stats_and_clear_are_the_callers_tenants(
    gw: UvicornServer, module_upstream: AiohttpServer, redis_leftovers: Callable[[str], None]
) -> None:
    a, admin_a = tenant_key(gw.url, "admin")
    b, admin_b = tenant_key(gw.url, "owner")
    forget_redis(redis_leftovers, a, b)
    _, member_a = tenant_key(gw.url, "member", tenant=a)
    texts = [prompt("admin"), prompt("admin")]
    for text in texts:
        ask(gw.url, admin_a, text)
        ask(gw.url, admin_a, text, model="warm")
    ask(gw.url, admin_b, texts[0])
    wait_stats(gw.url, admin_a, lambda s: s["entries"] == 4)
    wait_stats(gw.url, admin_b, lambda s: s["entries"] == 1)

    seen = admin(gw.url, "GET", "/cache/stats", admin_b).json()
    assert (seen["tenant"], seen["entries"], seen["misses"]) == (b, 1, 1) and "tenants" not in seen
    assert admin(gw.url, "GET", f"/cache/stats?tenant={a}", admin_b).status_code == 404  # never another tenant's
    assert admin(gw.url, "GET", "/cache/stats", member_a).status_code == 403  # owners and admins only
    everything = admin(gw.url, "GET", "/cache/stats").json()  # the master key: every tenant
    assert everything["tenant"] is None and {a, b} <= set(everything["tenants"])
    assert everything["tenants"][a]["entries"] == 4

    assert admin(gw.url, "DELETE", f"/cache?tenant={a}", admin_b).status_code == 404
    assert admin(gw.url, "DELETE", "/cache?model=warm", admin_a).json()["deleted"] == 2  # ?model= narrows it
    assert ask(gw.url, admin_a, texts[0]) == "hit" and ask(gw.url, admin_a, texts[0], model="warm") == "miss"
    wait_stats(gw.url, admin_a, lambda s: s["entries"] == 3)
    assert admin(gw.url, "DELETE", "/cache", admin_a).json()["deleted"] == 3
    assert admin(gw.url, "GET", "/cache/stats", admin_a).json()["entries"] == 0
    [logged] = admin(gw.url, "GET", "/audit?action=cache.clear&limit=1", admin_a).json()["data"]
    assert logged["detail"] == {"deleted": 3, "model": None}  # the admin action is audited
    assert ask(gw.url, admin_b, texts[0]) == "hit"  # B's entry was not A's to clear
    assert admin(gw.url, "DELETE", f"/cache?tenant={b}").json()["deleted"] == 1  # the master key names a tenant
    assert ask(gw.url, admin_b, texts[0]) == "miss"
    assert upstream_calls(module_upstream, texts[0]) == 5


def test_ttl_per_request_per_model_and_by_default_in_redis(
    redis_gws: tuple[UvicornServer, UvicornServer], redis_leftovers: Callable[[str], None]
) -> None:
    import redis

    gw = redis_gws[0]
    tenant, key = tenant_key(gw.url)
    forget_redis(redis_leftovers, tenant)
    client = sdk(gw.url, key)
    ttl: Any = {"cache": {"ttl_s": 5}}
    client.chat.completions.create(model="mini", messages=[{"role": "user", "content": prompt()}], extra_body=ttl)
    client.chat.completions.create(model="warm", messages=[{"role": "user", "content": prompt()}])
    client.chat.completions.create(model="mini", messages=[{"role": "user", "content": prompt()}])
    wait_stats(gw.url, key, lambda s: s["entries"] == 3)
    with redis.Redis.from_url(SHARED_REDIS_URL) as r:
        ttls = sorted(int(r.ttl(k)) for k in r.scan_iter(match=f"oneflow:cache:exact:{tenant}:e:*"))
    assert len(ttls) == 3
    assert 0 < ttls[0] <= 5 and 5 < ttls[1] <= 120 and 120 < ttls[2] <= 600  # the request's, warm's, the default
