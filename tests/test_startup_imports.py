"""A worker imports what its configuration uses: optional features' libraries load on first use, not at start-up.

A fresh interpreter builds and starts the gateway as `oneflow serve` does (database migrated beforehand, in a
child process) for a full-mode configuration: rate-limited virtual keys, a budget, the ledger and metrics, no
tracing and nobody signing in.

- On SQLite without Redis: redis-py (with hiredis, cryptography and the OpenTelemetry SDK it pulls), Jinja2 and
  the console's pages, tiktoken (calls are estimated without a tokenizer by default), Alembic, SQLAlchemy's ORM
  (`store.asyncio_sessions`), PostgreSQL's dialect (`store.dialects`) and argon2 (`identity.passwords`: on the
  first password) must not be loaded; the console's are once `/ui` is asked for.
- On PostgreSQL with Redis: nor are `sqlite3` (`store.dead_letters`, `store.usage_insert`) and SQLite's dialect.

(Memory itself is measured by `bench/imports.py` and `bench/workers.py`.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from oneflow_ai.billing.budget import config_budget_id
from tests.conftest import SHARED_REDIS_URL

UNUSED_EVERYWHERE = (
    "jinja2",
    "oneflow_ai.console.app",
    "tiktoken",
    "alembic",
    "mako",
    "sqlalchemy.orm",
    "argon2",
    "_argon2_cffi_bindings",
)
UNUSED_ON_SQLITE = (
    *UNUSED_EVERYWHERE,
    "redis",
    "hiredis",
    "cryptography",
    "opentelemetry.sdk",
    "sqlalchemy.dialects.postgresql",
)
UNUSED_ON_POSTGRES = (*UNUSED_EVERYWHERE, "sqlite3", "_sqlite3", "sqlalchemy.dialects.sqlite", "aiosqlite")

START = """
import json, sys
from starlette.testclient import TestClient
from oneflow_ai.app import create_app

def loaded():
    return sorted({m for m in sys.modules if m.split(".")[0] in sys.argv[1:] or m in sys.argv[1:]})

with TestClient(create_app(), base_url="http://127.0.0.1") as client:
    assert client.get("/health").status_code == 200
    started = loaded()
    assert client.get("/ui/login").status_code == 200
    print(json.dumps({"started": started, "console": loaded()}))
"""


CONFIG: dict[str, Any] = {
    "budgets": [{"scope": "tenant", "id": "default", "period": "monthly", "limit_usd": 1000}],
    "models": [
        {
            "name": "chat",
            "deployments": [
                {"provider": "openai_compatible", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"}
            ],
        }
    ],
}


def started_and_console(
    tmp_path: Path, unused: tuple[str, ...], config: dict[str, Any] = CONFIG, **wired: str
) -> dict[str, list[str]]:
    """Which of `unused` the gateway loaded once started, and once it has shown the console's login page."""
    (tmp_path / "oneflow.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL") and "OTEL" not in k}
    env |= {
        "ONEFLOW_CONFIG": str(tmp_path / "oneflow.yaml"),
        "ONEFLOW_DATA_DIR": str(tmp_path / "data"),
        "ONEFLOW_MASTER_KEY": "sk-test-master-0123456789",
        "ONEFLOW_LOG_LEVEL": "INFO",
        **wired,
    }
    subprocess.run([sys.executable, "-m", "oneflow_ai", "migrate"], env=env, check=True, capture_output=True)

    run = subprocess.run(
        [sys.executable, "-c", START, *unused], env=env, capture_output=True, text=True, check=False, timeout=120
    )

    assert run.returncode == 0, run.stderr[-3000:]
    loaded: dict[str, list[str]] = json.loads(run.stdout.strip().splitlines()[-1])
    return loaded


def test_a_full_sqlite_worker_without_redis_tracing_or_console_does_not_import_them(tmp_path: Path) -> None:
    loaded = started_and_console(tmp_path, UNUSED_ON_SQLITE)

    assert loaded["started"] == []
    assert {"jinja2", "oneflow_ai.console.app"} <= set(loaded["console"])  # built on the first request under /ui
    assert "argon2" not in loaded["console"]  # the login page hashes nothing


def test_a_full_postgres_worker_does_not_import_sqlite_or_argon2(
    tmp_path: Path, postgres_url: str, redis_leftovers: Callable[[str], None]
) -> None:
    tenant = f"t-{uuid.uuid4().hex}"  # its budget's counter in the shared Redis is this test's own
    config = {**CONFIG, "budgets": [{"scope": "tenant", "id": tenant, "period": "monthly", "limit_usd": 1000}]}
    redis_leftovers(f"oneflow:budget:{{{config_budget_id('tenant', tenant, 'monthly')}:*")

    loaded = started_and_console(
        tmp_path, UNUSED_ON_POSTGRES, config, DATABASE_URL=postgres_url, REDIS_URL=SHARED_REDIS_URL
    )

    assert loaded["started"] == []
