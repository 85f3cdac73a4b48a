"""Benchmark modes. A mode is data: extra gateway configuration, extra environment, and how clients get a key.

`bare` runs the gateway with the master key only. The `full-*` modes turn on everything a production deployment
runs: the load generators send a virtual key (created through the admin API) whose rpm/rph/tpm limits are checked
but never reached, a tenant budget that never runs out is checked on every request, and the ledger, `/metrics` and
INFO request logging (to the gateway's log file in the temp dir) are on, over SQLite or over PostgreSQL + Redis
(a fresh database created beside `$BENCH_DATABASE_URL` and dropped afterwards).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp

MASTER_KEY = "sk-bench"

# (gateway base URL, master key) -> the API key the load generators send.
KeyFactory = Callable[[str, str], Coroutine[Any, Any, str]]


async def master_key(base_url: str, key: str) -> str:
    return key


# Limits the limiter checks on every request but a benchmark never reaches (below 2**31: the PostgreSQL columns are
# INTEGER although the API accepts up to 10**12).
GENEROUS_LIMITS = {"rpm_limit": 10_000_000, "rph_limit": 2_000_000_000, "tpm_limit": 2_000_000_000}
# A budget checked on every request that never runs out (the virtual key is in tenant `default`).
ENDLESS_BUDGET = {"scope": "tenant", "id": "default", "period": "monthly", "limit_usd": 1_000_000}


async def virtual_key(base_url: str, key: str) -> str:
    """Create a virtual key with generous limits through the admin API; also check `/metrics` answers."""
    root = base_url.removesuffix("/v1")
    headers = {"authorization": f"Bearer {key}"}
    body = {"name": "bench", **GENEROUS_LIMITS}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{root}/api/v1/admin/api-keys", json=body) as response:
            if response.status != 201:
                raise RuntimeError(f"creating the virtual key: {response.status} {await response.text()}")
            created = await response.json()
        async with session.get(f"{root}/metrics") as response:
            if response.status != 200:
                raise RuntimeError(f"/metrics answered {response.status}")
    return str(created["key"])


@contextmanager
def no_resources() -> Iterator[Mapping[str, str]]:
    yield {}


def fresh_postgres(admin_url: str) -> Callable[[], AbstractContextManager[Mapping[str, str]]]:
    """A fresh database beside `admin_url` for one run, dropped afterwards; yields its DATABASE_URL."""

    @contextmanager
    def database() -> Iterator[Mapping[str, str]]:
        import asyncpg

        name = f"oneflow_bench_{uuid.uuid4().hex[:12]}"

        async def run(sql: str) -> None:
            conn = await asyncpg.connect(admin_url)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run(f'CREATE DATABASE "{name}"'))
        try:
            yield {"DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + name}
        finally:
            asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return database


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)  # top-level YAML keys beside `models`
    env: Mapping[str, str] = field(default_factory=dict)  # added to the gateway's environment
    client_key: KeyFactory = master_key
    # Entered around the gateway's run; yields more environment (a fresh database's URL) valid until exit.
    resources: Callable[[], AbstractContextManager[Mapping[str, str]]] = no_resources
    not_wired: str | None = None  # why the mode cannot run yet, or None when it can
    services: tuple[int, ...] = ()
    """TCP ports of the servers the gateway uses (PostgreSQL, Redis): `--pin-services` runs them on the load core,
    off the gateway's. Not the default: on 2 cores they then queue behind the load generator; two runs, pinned and
    not, differed by no more than these VMs vary between runs (full-postgres TTFB +3.1 and +3.3 ms)."""


def _port(url: str, default: int) -> int:
    return urlsplit(url).port or default


def modes(environ: Mapping[str, str] = os.environ) -> dict[str, Mode]:
    database = environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    redis = environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    full_config = {"budgets": [ENDLESS_BUDGET]}
    full_env = {"ONEFLOW_LOG_LEVEL": "INFO"}
    return {
        "bare": Mode("bare", "master key only; default logging; usage ledger on SQLite in a temp dir"),
        "full-sqlite": Mode(
            "full-sqlite",
            "virtual key with rate limits, tenant budget, ledger, metrics, INFO request logging to a file; SQLite",
            config=full_config,
            env=full_env,
            client_key=virtual_key,
        ),
        "full-sqlite-guardrails": Mode(
            "full-sqlite-guardrails",
            "as full-sqlite, with the `default` guardrail policy on every call (input and output, every detector)",
            config={**full_config, "guardrails": {"default": ["default"]}},
            env=full_env,
            client_key=virtual_key,
        ),
        "full-postgres": Mode(
            "full-postgres",
            "as full-sqlite, on a fresh PostgreSQL database + Redis ($BENCH_DATABASE_URL, $BENCH_REDIS_URL); limits "
            "and budget in Redis, admitted on the replica's view of them (the default ONEFLOW_SHARED_VIEW_S=0.1)",
            config=full_config,
            env={**full_env, "REDIS_URL": redis},
            client_key=virtual_key,
            resources=fresh_postgres(database),
            services=(_port(database, 5432), _port(redis, 6379)),
        ),
    }


def variants(environ: Mapping[str, str] = os.environ) -> dict[str, Mode]:
    """Modes for `bench.ab --versus` only (not measured by `bench.run`): a production mode with one thing changed."""
    full = modes(environ)["full-sqlite"]
    return {
        "full-sqlite-nojournal": replace(
            full,
            name="full-sqlite-nojournal",
            description="as full-sqlite, without the ledger's journal (ONEFLOW_LEDGER_JOURNAL=off): what it costs",
            env={**full.env, "ONEFLOW_LEDGER_JOURNAL": "off"},
        ),
    }
