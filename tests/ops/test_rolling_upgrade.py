"""Issue 20, rolling upgrade: the previous release's code runs on the new schema, the new code on the previous one,
and `oneflow db upgrade -> downgrade -> upgrade` keeps the data; on SQLite and PostgreSQL (a database of each test's
own), real `oneflow serve` processes in front of the fake OpenAI upstream.

The previous release is the commit before migration 0010 (the repository has no release tags): its `oneflow_ai`
package is extracted with `git archive` and run from there (`PYTHONPATH`, this venv's dependencies). Without the
repository's history (a shallow clone, no git) these tests skip.

That release predates `store.db.COMPATIBLE_AHEAD`: its start-up migration refuses a database at a revision it has no
file for ("Can't locate revision '0010'"), schema compatible or not. So it is given the new release's migration
files (never run: the database is at their head already, which is all its start-up check then sees), and what is
tested is what matters during the roll, the previous release's reads and writes on the new schema. From this
release on, a release runs on a schema one revision newer by itself: the last test stamps a future revision.

Run alone: `pytest -m upgrade`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from oneflow_ai.store.db import create_engine, head_revision
from tests.billing.conftest import config
from tests.conftest import MASTER_KEY, POSTGRES_ADMIN_URL, UPSTREAM_KEY
from tests.fakes.runner import free_port
from tests.fakes.subprocess_gateway import Served, wait_until_up

pytestmark = pytest.mark.upgrade

REPO = Path(__file__).parents[2]
MIGRATION_0010 = "oneflow_ai/store/migrations/versions/0010_console_experiments.py"
VERSIONS = Path("oneflow_ai/store/migrations/versions")
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def previous_release() -> str | None:
    """The commit before the one that added migration 0010, or None without the history to find it."""
    if shutil.which("git") is None:
        return None
    found = subprocess.run(
        ["git", "-C", str(REPO), "log", "--diff-filter=A", "--format=%H", "--", MIGRATION_0010],
        capture_output=True,
        text=True,
        check=False,
    )
    added = found.stdout.split()
    if found.returncode != 0 or not added:
        return None
    parent = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{added[-1]}^"],
        capture_output=True,
        text=True,
        check=False,
    )
    return parent.stdout.strip() or None


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's package extracted twice: as released (`released/`), and with the new release's
    migration files beside its own (`shimmed/`, see the module)."""
    rev = previous_release()
    if rev is None:
        pytest.skip("no git history here (shallow clone or no git): the previous release cannot be extracted")
    root = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "oneflow_ai"], capture_output=True, check=True)
    for name in ("released", "shimmed"):
        (root / name).mkdir()
        subprocess.run(["tar", "-x", "-C", str(root / name)], input=archive.stdout, check=True)
    assert not (root / "released" / MIGRATION_0010).exists()
    for migration in (REPO / VERSIONS).glob("[0-9]*_*.py"):
        if not (root / "shimmed" / VERSIONS / migration.name).exists():
            shutil.copy(migration, root / "shimmed" / VERSIONS / migration.name)
    return root


@pytest.fixture(params=["sqlite", "postgres"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own (its schema goes up and down)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'oneflow.db'}"
        return
    import asyncpg

    name = f"oneflow_upgrade_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Releases:
    """`oneflow` processes of either release on one database, each with its own data dir; all stopped at the end."""

    def __init__(self, tmp_path: Path, database_url: str, upstream_url: str, previous: Path | None) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.config = tmp_path / "gateway.yaml"
        self.config.write_text(config(upstream_url))
        self.previous = previous
        self.started: list[Served] = []

    def env(self, release: str, n: int) -> dict[str, str]:
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ONEFLOW_", "PROMETHEUS_", "OTEL_")) and k not in ("DATABASE_URL", "REDIS_URL")
        }
        environ.update(
            {
                "ONEFLOW_MASTER_KEY": MASTER_KEY,
                "UPSTREAM_KEY": UPSTREAM_KEY,
                "DATABASE_URL": self.database_url,
                "ONEFLOW_DATA_DIR": str(self.tmp_path / f"data-{n}"),
                "ONEFLOW_LEDGER_INTERVAL_S": "0.05",
            }
        )
        environ.pop("PYTHONPATH", None)
        if release != "new":  # `released` or `shimmed`: the previous release
            assert self.previous is not None
            environ["PYTHONPATH"] = str(self.previous / release)
        return environ

    def run(self, release: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m oneflow_ai ARGS` of that release, run outside the checkout (so that its package is the one
        imported), to its end."""
        return subprocess.run(
            [sys.executable, "-m", "oneflow_ai", *args],
            cwd=self.tmp_path,
            env=self.env(release, len(self.started)),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def package(self, release: str) -> str:
        return self.run_code(release, "import oneflow_ai; print(oneflow_ai.__file__)")

    def run_code(self, release: str, code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.tmp_path,
            env=self.env(release, 0),
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def serve(self, release: str) -> Served:
        n = len(self.started)
        port = free_port()
        out, err = self.tmp_path / f"serve-{n}.out", self.tmp_path / f"serve-{n}.err"
        args = [sys.executable, "-m", "oneflow_ai", "serve", "--port", str(port), "--config", str(self.config)]
        with out.open("wb") as o, err.open("wb") as e:
            process = subprocess.Popen(args, stdout=o, stderr=e, env=self.env(release, n), cwd=self.tmp_path)
        served = Served(process, f"http://127.0.0.1:{port}", out, err)
        self.started.append(served)
        wait_until_up(served)
        return served

    def db(self, *args: str) -> str:
        """`oneflow db ARGS` of the new release; its output."""
        done = self.run("new", "db", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def stop_all(self) -> None:
        for served in self.started:
            served.stop()


@pytest.fixture
def releases(
    openai_upstream: Any, own_database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Releases]:
    _, server = openai_upstream
    previous = request.getfixturevalue("previous") if "previous" in request.fixturenames else None
    r = Releases(tmp_path, own_database, server.url, previous)
    try:
        yield r
    finally:
        r.stop_all()


@pytest.fixture
def tag() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def calls(served: Served, tag: str, n: int = 4) -> list[str]:
    """`n` calls (every other one streamed), each answered 200 in full; their request ids."""
    ids = []
    for i in range(n):
        body: dict[str, Any] = {"model": "mini", "user": tag, "messages": [{"role": "user", "content": f"hi {i}"}]}
        if i % 2:
            with httpx.stream(
                "POST", served.url + "/v1/chat/completions", headers=AUTH, json={**body, "stream": True}
            ) as r:
                assert r.status_code == 200 and b"data: [DONE]" in r.read()
        else:
            r = httpx.post(served.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30)
            assert r.status_code == 200, r.text
        ids.append(r.headers["x-request-id"])
    return ids


def snapshot(database_url: str, tag: str, expect: int) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    """This tag's ledger rows (the columns every revision has), waiting for `expect` of them, and its daily
    aggregate totals (requests, input tokens, cost)."""

    async def read() -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT request_id, status, input_tokens, cost_usd FROM usage_records WHERE end_user = :t"),
                    {"t": tag},
                )
                totals = await conn.execute(
                    text("SELECT SUM(requests), SUM(input_tokens), SUM(cost_usd) FROM usage_daily WHERE end_user = :t"),
                    {"t": tag},
                )
                kept = sorted((r[0], r[1], r[2], money(r[3])) for r in rows)
                requests, tokens, cost = totals.one()
                return kept, (requests, tokens, money(cost))
        finally:
            await engine.dispose()

    deadline = time.monotonic() + 30
    while True:
        found = asyncio.run(read())
        if len(found[0]) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("1e-9"))


def revision(database_url: str) -> str | None:
    async def read() -> str | None:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(read())


def execute(database_url: str, *statements: str) -> None:
    async def run() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                for sql in statements:
                    await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_the_previous_release_runs_on_the_new_schema_beside_the_new_release(
    previous: Path, releases: Releases, tag: str
) -> None:
    head = head_revision()
    before = f"{int(head) - 1:04d}"
    for release in ("released", "shimmed"):
        assert releases.package(release) == str(previous / release / "oneflow_ai" / "__init__.py")
    assert releases.package("new") == str(REPO / "oneflow_ai" / "__init__.py")

    old = releases.serve("released")  # the previous release as deployed: it made its schema
    assert revision(releases.database_url) == before
    served_before = calls(old, tag)
    old.stop()

    assert releases.db("upgrade") == f"database at revision {head}"  # 1. migrate first
    as_released = releases.run("released", "migrate")  # (the start-up check that release has: see the module)
    assert as_released.returncode != 0 and f"Can't locate revision identified by '{head}'" in as_released.stderr
    old = releases.serve("shimmed")  # 2. the previous release still running ...
    new = releases.serve("new")  # ... beside the new one, on the new schema
    during = calls(old, tag) + calls(new, tag) + calls(old, tag)
    rows, totals = snapshot(releases.database_url, tag, expect=len(served_before) + len(during))
    assert {r[0] for r in rows} == set(served_before + during)
    assert {r[1] for r in rows} == {"ok"} and all(r[2] > 0 and r[3] > 0 for r in rows)
    assert totals == (len(rows), sum(r[2] for r in rows), sum(r[3] for r in rows))


def test_upgrade_downgrade_upgrade_keeps_the_data_and_the_new_release_migrates_the_previous_schema(
    releases: Releases, tag: str
) -> None:
    head = head_revision()
    before = f"{int(head) - 1:04d}"
    assert releases.db("upgrade", before) == f"database at revision {before}"  # the previous release's schema
    new = releases.serve("new")  # the new release on it: migrates it at start-up (its `oneflow migrate`)
    assert revision(releases.database_url) == head
    ids = calls(new, tag)
    new.stop()
    kept = snapshot(releases.database_url, tag, expect=len(ids))
    assert {r[0] for r in kept[0]} == set(ids)

    assert releases.db("downgrade") == f"database at revision {before}"
    assert snapshot(releases.database_url, tag, expect=len(ids)) == kept
    assert releases.db("current") == f"{before} (newest: {head})"
    assert releases.db("upgrade") == f"database at revision {head}"
    assert snapshot(releases.database_url, tag, expect=len(ids)) == kept
    again = releases.serve("new")
    more = calls(again, tag, 2)
    rows, totals = snapshot(releases.database_url, tag, expect=len(ids) + len(more))
    assert {r[0] for r in rows} == set(ids + more)
    assert totals == (len(rows), sum(r[2] for r in rows), sum(r[3] for r in rows))


def test_this_release_runs_on_a_schema_one_revision_newer_and_refuses_two(releases: Releases, tag: str) -> None:
    head = head_revision()
    releases.db("upgrade")
    one, two = f"{int(head) + 1:04d}", f"{int(head) + 2:04d}"
    # what the next release's migration may do: a nullable column (the code of this one never names it)
    execute(
        releases.database_url,
        "ALTER TABLE usage_records ADD COLUMN next_release_note VARCHAR(32)",
        f"UPDATE alembic_version SET version_num = '{one}'",
    )
    served = releases.serve("new")
    ids = calls(served, tag, 2)
    assert {r[0] for r in snapshot(releases.database_url, tag, expect=2)[0]} == set(ids)
    served.stop()
    assert f"revision {one}, newer than this release's {head}" in served.output()
    assert revision(releases.database_url) == one  # used as it is, not touched

    execute(releases.database_url, f"UPDATE alembic_version SET version_num = '{two}'")
    refused = releases.run("new", "migrate")
    assert refused.returncode == 1
    assert f"schema revision {two}, 2 revisions newer than this release knows ({head})" in refused.stderr
    assert "Traceback" not in refused.stderr
