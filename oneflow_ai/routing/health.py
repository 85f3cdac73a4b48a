"""Per-deployment health, as values.

`DeploymentHealth` is what the gateway has observed of one deployment: smoothed latency and time to
first token, a smoothed error rate and the number of requests in flight. The functions that change it
take a value and return a new one; `now` is passed in (seconds on a monotonic clock). `HealthBoard`
is the one mutable table, owned by the gateway's runtime, never a module global.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class DeploymentHealth:
    """A `None` latency means no sample yet; the planner treats it as 0 so a new deployment gets tried."""

    ewma_latency_s: float | None = None
    ewma_ttft_s: float | None = None
    error_rate: float = 0.0
    """An exponentially weighted moving average of outcomes, 1 for a failure and 0 for a success."""
    in_flight: int = 0
    samples: int = 0
    """How many outcomes (successes and failures) have been recorded."""
    last_updated: float | None = None


UNKNOWN = DeploymentHealth()


def _ewma(old: float | None, sample: float, alpha: float) -> float:
    """The first sample seeds the average; each later one moves it by `alpha` of the difference."""
    return sample if old is None else old + alpha * (sample - old)


def _error_rate(h: DeploymentHealth, outcome: float, alpha: float) -> float:
    return _ewma(h.error_rate if h.samples else None, outcome, alpha)


def record_success(
    h: DeploymentHealth, latency_s: float, ttft_s: float | None, now: float, alpha: float = 0.2
) -> DeploymentHealth:
    """A completed request: `latency_s` is the whole response, `ttft_s` the first token (streams only)."""
    return DeploymentHealth(
        _ewma(h.ewma_latency_s, latency_s, alpha),
        h.ewma_ttft_s if ttft_s is None else _ewma(h.ewma_ttft_s, ttft_s, alpha),
        _error_rate(h, 0.0, alpha),
        h.in_flight,
        h.samples + 1,
        now,
    )


def record_failure(h: DeploymentHealth, now: float, alpha: float = 0.2) -> DeploymentHealth:
    """A failed request. Its latency says nothing about the deployment's speed, so it is not averaged."""
    return DeploymentHealth(
        h.ewma_latency_s, h.ewma_ttft_s, _error_rate(h, 1.0, alpha), h.in_flight, h.samples + 1, now
    )


# The constructor, not `dataclasses.replace`: these run twice per request, and `replace` costs ~5 us a call.


def started(h: DeploymentHealth) -> DeploymentHealth:
    return DeploymentHealth(h.ewma_latency_s, h.ewma_ttft_s, h.error_rate, h.in_flight + 1, h.samples, h.last_updated)


def finished(h: DeploymentHealth) -> DeploymentHealth:
    """The counterpart of `started`, called however the request ended (never below zero)."""
    return DeploymentHealth(
        h.ewma_latency_s, h.ewma_ttft_s, h.error_rate, max(0, h.in_flight - 1), h.samples, h.last_updated
    )


class HealthBoard:
    """The gateway's live health table, one per gateway instance.

    >>> board = HealthBoard()
    >>> board.update("gpt/0", started).in_flight
    1
    """

    __slots__ = ("_table", "_view")

    def __init__(self) -> None:
        self._table: dict[str, DeploymentHealth] = {}
        self._view: Mapping[str, DeploymentHealth] = MappingProxyType(self._table)

    def view(self) -> Mapping[str, DeploymentHealth]:
        """A live read-only view (no copy), for planning on the hot path."""
        return self._view

    def get(self, deployment_id: str) -> DeploymentHealth:
        return self._table.get(deployment_id, UNKNOWN)

    def update(self, deployment_id: str, fn: Callable[[DeploymentHealth], DeploymentHealth]) -> DeploymentHealth:
        """Replace the deployment's health with `fn(current)` and return the new value."""
        new = fn(self.get(deployment_id))
        self._table[deployment_id] = new
        return new

    def snapshot(self) -> Mapping[str, DeploymentHealth]:
        """A read-only copy; deployments never seen are absent (read them as `UNKNOWN`)."""
        return MappingProxyType(dict(self._table))
