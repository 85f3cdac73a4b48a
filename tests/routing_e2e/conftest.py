"""Fixtures for routing over real HTTP: upstreams that can be killed, broken and mended, and config builders."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.routing_e2e.upstreams import Upstream

BREAKER = "{failure_rate_threshold: 0.5, min_requests: 5, window_s: 1, cooldown_s: 1}"


def deployment(upstream: Upstream, model: str, read_s: float = 5.0, **extra: object) -> str:
    fields = ", ".join(f"{k}: {v}" for k, v in extra.items())
    return (
        f"{{provider: openai_compatible, base_url: '{upstream.url}', model: {model}, api_key: env:UPSTREAM_KEY, "
        f"timeouts: {{connect: 1, read: {read_s}}}{', ' + fields if fields else ''}}}"
    )


def routing(max_attempts: int = 3, breaker: str = BREAKER) -> str:
    return f"routing:\n  max_attempts: {max_attempts}\n  backoff_base_s: 0.01\n  breaker: {breaker}\n"


@pytest.fixture
def upstreams() -> Iterator[Callable[[], Upstream]]:
    """`upstreams()` starts one more; all are stopped after the test."""
    made: list[Upstream] = []

    def make() -> Upstream:
        made.append(Upstream())
        return made[-1]

    yield make
    for u in made:
        u.kill()
