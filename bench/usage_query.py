"""How fast `GET /api/v1/usage` answers over a big ledger, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.usage_query                       # 1,000,000 rows, both databases
    .venv/bin/python -m bench.usage_query --rows 100000 --only sqlite

Fills the ledger with `--rows` records spread over 30 days (`--end-users` 2,000 with Zipf-like activity, each
belonging to one of 200 keys / 100 users / 10 departments / 3 tenants; 6 models on 3 providers; 3% errors), and
their hourly and daily aggregates (made by the ledger's own `rollup`), with bulk inserts (PostgreSQL `COPY`, one SQLite
transaction). Then it starts `oneflow serve` on that database and times each report `--runs` times, one request
at a time over HTTP. Target: p99 under 200 ms. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from oneflow_ai.store.aggregates import GRAINS, SUMS, rollup
from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import UsageRecord
from oneflow_ai.store.tables import AGGREGATE_DIMENSIONS, usage_records

KEY = "sk-bench-usage"
DAYS = 30
MODELS = [
    ("gpt-4o-mini", "openai", "0.15", "0.6"),
    ("gpt-4o", "openai", "2.5", "10"),
    ("claude-sonnet-4-5", "anthropic", "3", "15"),
    ("claude-haiku-4-5", "anthropic", "1", "5"),
    ("llama-3.1-8b", "groq", "0.05", "0.08"),
    ("llama-3.3-70b", "groq", "0.59", "0.79"),
]
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
QUERIES: dict[str, dict[str, Any]] = {
    "totals, last 30 days": {"start": (NOW - timedelta(days=30)).isoformat()},
    "by model, last 30 days": {"group_by": "model", "start": (NOW - timedelta(days=30)).isoformat()},
    "by key, last 7 days": {"group_by": "key", "start": (NOW - timedelta(days=7)).isoformat()},
    "by day and provider, 30 days": {"group_by": "day,provider"},
    "one key by day": {"key": "key-7", "group_by": "day"},
    "one tenant by hour, last 24 h": {
        "tenant": "tenant-1",
        "group_by": "hour",
        "start": (NOW - timedelta(days=1)).isoformat(),
    },
    "by end user, last 24 h": {"group_by": "end_user", "start": (NOW - timedelta(days=1)).isoformat()},
}


def records(n: int, end_users: int, seed: int = 42) -> Iterator[UsageRecord]:
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(end_users)]
    users = rng.choices(range(end_users), weights, k=n)
    for i, eu in enumerate(users):
        model, provider, inp, out = MODELS[(eu + i % 3) % len(MODELS)]
        tin, tout = rng.randint(20, 4000), rng.randint(1, 800)
        ok = rng.random() > 0.03
        cost = (tin * Decimal(inp) + tout * Decimal(out)) / 1_000_000 if ok else Decimal(0)
        at = NOW - timedelta(seconds=rng.randint(0, DAYS * 86400 - 1))
        yield UsageRecord(
            request_id=f"req_{i:012d}",
            created_at=at,
            endpoint="chat",
            requested_model=model,
            status="ok" if ok else "upstream_error",
            http_status=200 if ok else 502,
            cost_usd=cost,
            credits=cost * 100,
            usage_source="upstream",
            key_id=f"key-{eu % 200}",
            user_id=f"user-{eu % 100}",
            end_user=f"eu-{eu}",
            department_id=f"dept-{eu % 10}",
            tenant_id=f"tenant-{eu % 3}",
            served_model=model,
            provider=provider,
            deployment_id=f"{model}/0",
            input_tokens=tin if ok else 0,
            output_tokens=tout if ok else 0,
            latency_ms=rng.uniform(200, 3000),
        )


Aggregates = dict[str, list[dict[str, Any]]]
"""Aggregate table name -> its bucket rows."""


def generate(n: int, end_users: int) -> tuple[list[UsageRecord], Aggregates]:
    raw = list(records(n, end_users))
    return raw, {g.table.name: rollup(raw, g) for g in GRAINS}


RAW_COLUMNS = [c.name for c in usage_records.columns]
AGG_COLUMNS = {g.table.name: [g.bucket, *AGGREGATE_DIMENSIONS, *SUMS] for g in GRAINS}


def buckets(agg: Aggregates) -> str:
    return ", ".join(f"{len(rows):,} {table} buckets" for table, rows in agg.items())


def fill_sqlite(path: Path, raw: list[UsageRecord], agg: Aggregates) -> None:
    def sql_value(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it
        if isinstance(v, Decimal):
            return float(v)  # SQLite keeps NUMERIC as REAL
        return v

    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            f"INSERT INTO usage_records ({', '.join(RAW_COLUMNS)}) VALUES ({', '.join('?' * len(RAW_COLUMNS))})",
            ([sql_value(getattr(r, c)) for c in RAW_COLUMNS] for r in raw),
        )
        for table, rows in agg.items():
            columns = AGG_COLUMNS[table]
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                ([sql_value(a[c]) for c in columns] for a in rows),
            )
    conn.execute("ANALYZE")
    conn.close()


async def fill_postgres(url: str, raw: list[UsageRecord], agg: Aggregates) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "usage_records", columns=RAW_COLUMNS, records=[tuple(getattr(r, c) for c in RAW_COLUMNS) for r in raw]
        )
        for table, rows in agg.items():
            columns = AGG_COLUMNS[table]
            await conn.copy_records_to_table(
                table, columns=columns, records=[tuple(a[c] for c in columns) for a in rows]
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def migrated(url: str) -> None:
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()


def serve(database_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = 18600 + os.getpid() % 300
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ONEFLOW_MASTER_KEY": KEY,
        "ONEFLOW_DATA_DIR": str(data_dir),
        "ONEFLOW_LOG_LEVEL": "WARNING",
        "ONEFLOW_LEDGER_RETENTION_DAYS": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "oneflow_ai", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/health").status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the gateway did not start")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(url: str, runs: int) -> list[tuple[str, int, float, float]]:
    out = []
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=60) as client:
        for name, params in QUERIES.items():
            r = client.get("/api/v1/usage", params=params)  # warm-up, and a check
            r.raise_for_status()
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                client.get("/api/v1/usage", params=params).raise_for_status()
                times.append((time.perf_counter() - t) * 1000)
            out.append((name, len(r.json()["groups"]), pct(times, 50), pct(times, 99)))
    return out


def run(kind: str, raw: list[UsageRecord], agg: Aggregates, runs: int, pg_admin: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
            asyncio.run(migrated(url))
            t = time.perf_counter()
            fill_sqlite(Path(tmp) / "bench.db", raw, agg)
        else:
            import asyncpg

            name = f"oneflow_bench_{uuid.uuid4().hex[:8]}"
            admin = pg_admin.replace("postgresql://", "postgres://")

            async def create(sql: str) -> None:
                c = await asyncpg.connect(admin)
                await c.execute(sql)
                await c.close()

            asyncio.run(create(f'CREATE DATABASE "{name}"'))
            url = pg_admin.rsplit("/", 1)[0] + "/" + name
            asyncio.run(migrated(url))
            t = time.perf_counter()
            asyncio.run(fill_postgres(url, raw, agg))
        took = time.perf_counter() - t
        print(f"\n{kind}: {len(raw):,} ledger rows, {buckets(agg)}, filled in {took:.1f} s")
        proc, base = serve(url, Path(tmp))
        try:
            print(f"{'query':34} {'groups':>7} {'p50 ms':>8} {'p99 ms':>8}")
            for name, groups, p50, p99 in measure(base, runs):
                print(f"{name:34} {groups:>7} {p50:>8.1f} {p99:>8.1f}")
        finally:
            proc.terminate()
            proc.wait(10)
            if kind == "postgres":
                asyncio.run(create(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--end-users", type=int, default=2000, help="how many end users (the widest dimension)")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--postgres", default=os.environ.get("ONEFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    t = time.perf_counter()
    raw, agg = generate(args.rows, args.end_users)
    print(f"generated {len(raw):,} records, {buckets(agg)} in {time.perf_counter() - t:.1f} s")
    for kind in ("sqlite", "postgres"):
        if args.only in (None, kind):
            run(kind, raw, agg, args.runs, args.postgres)


if __name__ == "__main__":
    main()
