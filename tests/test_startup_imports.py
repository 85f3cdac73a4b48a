"""A worker imports what its configuration uses: optional features' libraries load on first use, not at start-up.

A fresh interpreter builds and starts the gateway as `oneflow serve` does (database migrated beforehand, in a
child process) for a full-mode configuration on SQLite: rate-limited virtual keys, a budget, the ledger and
metrics, but no Redis, no tracing and nobody on the console. redis-py (with hiredis, cryptography and the
OpenTelemetry SDK it pulls), Jinja2 and the console's pages, tiktoken (calls are estimated without a tokenizer
by default), Alembic, SQLAlchemy's ORM (`store.asyncio_sessions`) and PostgreSQL's dialect (`store.dialects`)
must then not be loaded; the console's are once `/ui` is asked for. (Memory itself is measured by
`bench/imports.py`.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

UNUSED = (
    "redis",
    "hiredis",
    "cryptography",
    "opentelemetry.sdk",
    "jinja2",
    "oneflow_ai.console.app",
    "tiktoken",
    "alembic",
    "mako",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql",
)

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


def test_a_full_sqlite_worker_without_redis_tracing_or_console_does_not_import_them(tmp_path: Path) -> None:
    config = {
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
    (tmp_path / "oneflow.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL") and "OTEL" not in k}
    env |= {
        "ONEFLOW_CONFIG": str(tmp_path / "oneflow.yaml"),
        "ONEFLOW_DATA_DIR": str(tmp_path / "data"),
        "ONEFLOW_MASTER_KEY": "sk-test-master-0123456789",
        "ONEFLOW_LOG_LEVEL": "INFO",
    }
    subprocess.run([sys.executable, "-m", "oneflow_ai", "migrate"], env=env, check=True, capture_output=True)

    run = subprocess.run(
        [sys.executable, "-c", START, *UNUSED], env=env, capture_output=True, text=True, check=False, timeout=120
    )

    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded["started"] == []
    assert {"jinja2", "oneflow_ai.console.app"} <= set(loaded["console"])  # built on the first request under /ui
