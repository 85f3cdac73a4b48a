"""Closed-loop load over real HTTP, and a watcher that samples one deployment's breaker from the admin API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import MASTER_KEY

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
HI = [{"role": "user", "content": "hi"}]


@dataclass(frozen=True)
class Result:
    t: float
    """When the answer came (seconds since the load started)."""
    status: int
    attempts: int
    model: str | None
    error: str | None = None
    sent: float = 0.0
    """When the request was sent."""


@dataclass
class Load:
    """`clients` concurrent clients sending `body` back to back until `stop()`."""

    url: str
    body: dict[str, Any]
    clients: int = 20
    results: list[Result] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[Any] | None = None

    def start(self) -> Load:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def stop(self) -> list[Result]:
        self._stop.set()
        assert self._task is not None
        await self._task
        return self.results

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(base_url=self.url, headers=AUTH, timeout=30, limits=limits) as client:
            await asyncio.gather(*(self._client(client) for _ in range(self.clients)))

    async def _client(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            sent = self.now()
            try:
                r = await client.post("/v1/chat/completions", json=self.body)
                self.results.append(
                    Result(
                        self.now(),
                        r.status_code,
                        int(r.headers.get("x-oneflow-attempts", 0)),
                        r.headers.get("x-oneflow-model"),
                        None if r.is_success else r.text,
                        sent,
                    )
                )
            except httpx.HTTPError as e:
                self.results.append(Result(self.now(), 0, 0, None, repr(e), sent))

    def now(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class Watch:
    """Samples `/api/v1/admin/routing/health` for one deployment every `every_s` until `stop()`."""

    url: str
    deployment_id: str
    every_s: float = 0.02
    samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[Any] | None = None

    def start(self) -> Watch:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def stop(self) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, headers=AUTH, timeout=10) as client:
            while not self._stop.is_set():
                r = await client.get("/api/v1/admin/routing/health")
                assert r.status_code == 200, r.text
                [entry] = [d for d in r.json()["deployments"] if d["id"] == self.deployment_id]
                self.samples.append((time.perf_counter() - self.started, entry))
                await asyncio.sleep(self.every_s)

    async def until(
        self, condition: Callable[[dict[str, Any]], bool], after: float = 0.0, within_s: float = 10.0
    ) -> float:
        """The first sample time (>= `after`) at which `condition` held, waiting for it if need be."""
        deadline = time.perf_counter() + within_s
        while time.perf_counter() < deadline:
            for t, entry in self.samples:
                if t >= after and condition(entry):
                    return t
            await asyncio.sleep(0.01)
        states = [(round(t, 2), e["state"]) for t, e in self.samples if t >= after]
        raise AssertionError(f"{self.deployment_id}: condition not met; states seen: {states[-20:]}")

    def now(self) -> float:
        return time.perf_counter() - self.started

    def openings(self) -> list[float]:
        """The distinct times the breaker opened (wall clock), however many samples showed each."""
        seen: list[float] = []
        for _, entry in self.samples:
            if entry["opened_at"] is not None:
                at = datetime.fromisoformat(entry["opened_at"]).timestamp()
                if not seen or abs(at - seen[-1]) > 0.1:
                    seen.append(at)
        return seen


def is_open(entry: dict[str, Any]) -> bool:
    return entry["state"] == "open"


def is_closed(entry: dict[str, Any]) -> bool:
    return entry["state"] == "closed"
