"""The cluster: three `oneflow serve` replicas behind nginx, sharing a PostgreSQL database of their own and the
shared Redis, in front of one counting fake upstream. Started once for the module (in parallel, after one
migration), stopped and dropped afterwards whatever happened; each test revives a replica an earlier one left dead.

What each test measured goes to `figures` and is printed in pytest's terminal summary ("cluster figures"), so
that CI's output shows it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from oneflow_ai.billing.budget import config_budget_id
from oneflow_ai.pricing import TokenCounter
from tests.billing.conftest import expected_cost
from tests.cluster.balancer import Balancer, nginx_path, start_balancer
from tests.cluster.load import HI, MAX_TOKENS
from tests.cluster.replicas import Replica, replicas
from tests.conftest import MASTER_KEY, POSTGRES_ADMIN_URL, SHARED_REDIS_URL, UPSTREAM_KEY
from tests.fakes import openai_upstream as fake
from tests.fakes.counting_upstream import CountingUpstream
from tests.fakes.runner import AiohttpServer

MASTER = {"authorization": f"Bearer {MASTER_KEY}"}
ONE_CALL = expected_cost("gpt-4o-mini", fake.PROMPT_TOKENS, fake.COMPLETION_TOKENS, 3)
"""What one call to the fake upstream costs (its usage is the same for every call, streamed or not)."""
ESTIMATE = expected_cost("gpt-4o-mini", TokenCounter(None).count_messages(HI), MAX_TOKENS)
"""What the gateway holds on a budget for one call before it is made (its prompt, estimated without a tokenizer,
and `max_tokens`)."""
BUDGET_CALLS = 12
BUDGET_USD = BUDGET_CALLS * ONE_CALL
SHARED_BREAKERS = "oneflow:breakers"
FIGURES = pytest.StashKey[dict[str, dict[str, Any]]]()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def cluster_config(run: str, upstream_url: str) -> str:
    """`<run>-plain`, `<run>-budgeted` (a daily budget of BUDGET_CALLS calls) and `<run>-flaky` (a deployment that
    can be told to fail, then a healthy one); the breakers open at half of 3+ calls failing and stay open."""
    dep = f"provider: openai, base_url: '{upstream_url}/v1', api_key: env:UPSTREAM_KEY, model: gpt-4o-mini"
    return f"""routing:
  max_attempts: 3
  backoff_base_s: 0.01
  breaker: {{min_requests: 3, failure_rate_threshold: 0.5, window_s: 600, cooldown_s: 600}}
models:
  - {{name: {run}-plain, deployments: [{{{dep}}}]}}
  - {{name: {run}-budgeted, deployments: [{{{dep}}}]}}
  - name: {run}-flaky
    deployments:
      - {{{dep}, headers: {{x-fake-deployment: sick}}}}
      - {{{dep}, headers: {{x-fake-deployment: healthy}}}}
budgets:
  - {{scope: model, id: {run}-budgeted, period: daily, limit_usd: '{BUDGET_USD}'}}
"""


@dataclass
class Cluster:
    run: str
    replicas: list[Replica]
    balancer: Balancer
    upstream: CountingUpstream
    database_url: str
    key_ids: list[str] = field(default_factory=list)

    def model(self, name: str) -> str:
        return f"{self.run}-{name}"

    def marker(self, phase: str, n: int) -> str:
        return f"{self.run}-{phase}-{n}"

    def revive(self) -> None:
        """Start again every replica that is not running (an earlier test killed or stopped it)."""
        dead = [r for r in self.replicas if not r.alive]
        for r in dead:
            r.launch()
        for r in dead:
            r.wait_up()

    def new_key(self, replica: Replica, **body: Any) -> dict[str, Any]:
        r = httpx.post(
            replica.url + "/api/v1/admin/api-keys", headers=MASTER, json={"name": self.run, **body}, timeout=30
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        self.key_ids.append(created["id"])
        return created

    def breaker(self, replica: Replica, deployment_id: str) -> dict[str, Any]:
        r = httpx.get(replica.url + "/api/v1/admin/routing/health", headers=MASTER, timeout=30)
        assert r.status_code == 200, r.text
        [entry] = [d for d in r.json()["deployments"] if d["id"] == deployment_id]
        return dict(entry)

    async def ledger(self, phase: str) -> dict[str, list[dict[str, Any]]]:
        """This phase's ledger rows by marker (`end_user`), read straight from the database."""
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT request_id, end_user, status, http_status, streamed, cost_usd FROM usage_records"
                " WHERE end_user LIKE $1",
                f"{self.run}-{phase}-%",
            )
        finally:
            await conn.close()
        found: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            found.setdefault(row["end_user"], []).append(dict(row))
        return found

    async def settled_ledger(
        self, phase: str, markers: set[str], within_s: float = 30.0
    ) -> dict[str, list[dict[str, Any]]]:
        """The phase's rows once every marker in `markers` has one, or when `within_s` has passed (the caller then
        sees what is missing)."""
        deadline = time.monotonic() + within_s
        rows = await self.ledger(phase)
        while not markers <= rows.keys() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            rows = await self.ledger(phase)
        return rows


def create_database(name: str) -> str:
    async def run(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


def forget_in_redis(run: str, key_ids: list[str]) -> None:
    """This run's keys in the shared Redis: its keys' rate-limit buckets, its budget's counters, its breakers."""
    with redis.Redis.from_url(SHARED_REDIS_URL) as client:
        patterns = [f"oneflow:rl:*{key_id}*" for key_id in key_ids]
        patterns.append(f"oneflow:budget:{{{config_budget_id('model', f'{run}-budgeted', 'daily')}:*")
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
        fields = [f for f, _ in client.hscan_iter(SHARED_BREAKERS, match=f"{run}-*")]
        if fields:
            client.hdel(SHARED_BREAKERS, *fields)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if nginx_path() is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light): the cluster runs its replicas behind it")
    run = f"c{uuid.uuid4().hex[:10]}"
    root = tmp_path_factory.mktemp("cluster")
    db_name = f"oneflow_cluster_{run}"
    upstream = CountingUpstream(require_key=UPSTREAM_KEY)
    server = AiohttpServer(upstream.app)
    database_url = create_database(db_name)
    started: list[Replica] = []
    balancer: Balancer | None = None
    cluster: Cluster | None = None
    try:
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": SHARED_REDIS_URL,
            "ONEFLOW_LEDGER_INTERVAL_S": "0.25",  # the default, written down: what a killed process may owe
            "ONEFLOW_SHUTDOWN_GRACE_S": "20",
            "ONEFLOW_LOG_LEVEL": "WARNING",
            "ONEFLOW_LEDGER_JOURNAL_DIR": str(root / "journal"),  # one per host, shared: a survivor takes over
        }
        migrated = subprocess.run(
            [sys.executable, "-m", "oneflow_ai", "migrate"],
            env={**os.environ, "DATABASE_URL": database_url},
            capture_output=True,
            text=True,
        )
        assert migrated.returncode == 0, migrated.stderr  # once, before three replicas start together
        config = root / "cluster.yaml"
        config.write_text(cluster_config(run, server.url))
        started = replicas(root, 3, env, config)
        for r in started:
            r.launch()
        for r in started:
            r.wait_up()
        balancer = start_balancer(root / "nginx", [r.port for r in started])
        cluster = Cluster(run, started, balancer, upstream, database_url)
        yield cluster
    finally:
        if balancer is not None:
            balancer.stop()
        for r in started:
            r.stop()
        server.stop()
        drop_database(db_name)
        forget_in_redis(run, cluster.key_ids if cluster is not None else [])


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """What this test measured, printed in the terminal summary."""
    store = request.config.stash.setdefault(FIGURES, {})
    return store.setdefault(request.node.name, {})


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    found = config.stash.get(FIGURES, {})
    if not found:
        return
    terminalreporter.section("cluster figures")
    for test, values in found.items():
        terminalreporter.write_line(f"{test}:")
        for name, value in values.items():
            terminalreporter.write_line(f"    {name}: {value}")
