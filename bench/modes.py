"""Benchmark modes. A mode is data: extra gateway configuration, extra environment, and how clients get a key.

`bare` runs the gateway with the master key only. The `full-*` modes will turn on everything a production
deployment runs (virtual keys, rate limits, budgets, the ledger, metrics, request logging) over SQLite or over
PostgreSQL + Redis; they are declared here so the harness and the report already know them, and are wired by
filling in `config`, `env` and `client_key` once those features exist in the gateway.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

MASTER_KEY = "sk-bench"

# (gateway base URL, master key) -> the API key the load generators send.
KeyFactory = Callable[[str, str], Coroutine[Any, Any, str]]


async def master_key(base_url: str, key: str) -> str:
    return key


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)  # top-level YAML keys beside `models`
    env: Mapping[str, str] = field(default_factory=dict)  # added to the gateway's environment
    client_key: KeyFactory = master_key
    not_wired: str | None = None  # why the mode cannot run yet, or None when it can


def modes(environ: Mapping[str, str] = os.environ) -> dict[str, Mode]:
    pending = "the gateway does not have virtual keys, limits, budgets and metrics yet; wire them in bench/modes.py"
    return {
        "bare": Mode("bare", "master key only; default logging; usage ledger on SQLite in a temp dir"),
        "full-sqlite": Mode(
            "full-sqlite",
            "virtual key, rate limits, budget, ledger, metrics, request logging; SQLite",
            not_wired=pending,
        ),
        "full-postgres": Mode(
            "full-postgres",
            "as full-sqlite, on PostgreSQL + Redis ($BENCH_DATABASE_URL, $BENCH_REDIS_URL)",
            env={
                "DATABASE_URL": environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/oneflow_bench"),
                "REDIS_URL": environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
            },
            not_wired=pending,
        ),
    }
