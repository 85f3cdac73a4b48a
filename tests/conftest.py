"""Shared fixtures: fake upstreams on real ports, a real gateway over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oneflow_ai.app import create_app
from oneflow_ai.settings import Settings
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import AiohttpServer, UvicornServer

MASTER_KEY = "sk-test-master-0123456789"
UPSTREAM_KEY = "sk-upstream-secret-abcdef"
POSTGRES_ADMIN_URL = os.environ.get("ONEFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SHARED_REDIS_URL = os.environ.get("ONEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
"""A Redis other test sessions use at the same time: a test writes only under its own `redis_prefix`."""
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", None}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster: three replicas behind nginx on PostgreSQL and Redis (tests/cluster; run alone with -m cluster)",
    )
    config.addinivalue_line(
        "markers",
        "upgrade: the previous release and this one on one database, migrated up and down (run alone with -m upgrade)",
    )


@pytest.fixture(autouse=True, scope="session")
def no_internet() -> Iterator[None]:
    """Fail any test that tries to resolve a host other than this machine."""
    real = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOCAL_HOSTS:
            raise OSError(f"tests must not reach the network (tried to resolve {name!r})")
        return real(host, *args, **kwargs)

    socket.getaddrinfo = local_only
    yield
    socket.getaddrinfo = real


@pytest.fixture(scope="session")
def openai_upstream() -> Iterator[tuple[OpenAIUpstream, AiohttpServer]]:
    fake = OpenAIUpstream(require_key=UPSTREAM_KEY)
    server = AiohttpServer(fake.app)
    yield fake, server
    server.stop()


@pytest.fixture(scope="session")
def anthropic_upstream() -> Iterator[tuple[AnthropicUpstream, AiohttpServer]]:
    fake = AnthropicUpstream(require_key=UPSTREAM_KEY)
    server = AiohttpServer(fake.app)
    yield fake, server
    server.stop()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis; every key under it is deleted after the test, failed
    or not (never FLUSHDB: other sessions share the database)."""
    import redis

    prefix = f"oneflow:test:{uuid.uuid4().hex}:"
    yield prefix
    with redis.Redis.from_url(SHARED_REDIS_URL) as client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def redis_leftovers() -> Iterator[Callable[[str], None]]:
    """`redis_leftovers(pattern)`: keys that a gateway under test writes to the shared Redis under names of this
    test's own (a fresh key id, budget id or idempotency key in `pattern`) are deleted after it, failed or not."""
    patterns: list[str] = []
    yield patterns.append
    if patterns:
        import redis

        with redis.Redis.from_url(SHARED_REDIS_URL) as client:
            for pattern in patterns:
                keys = list(client.scan_iter(match=pattern, count=1000))
                if keys:
                    client.delete(*keys)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    import asyncpg

    name = f"oneflow_test_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_ADMIN_URL

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield admin.rsplit("/", 1)[0] + "/" + name
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'oneflow.db'}"
    return str(request.getfixturevalue("postgres_url"))


GatewayFactory = Callable[..., UvicornServer]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start the real app under uvicorn: `start_gateway(config_yaml=..., env={...}, database_url=...)`."""
    servers: list[UvicornServer] = []

    def start(
        config_yaml: str | None = None,
        env: dict[str, str] | None = None,
        database_url: str | None = None,
        **settings: Any,
    ) -> UvicornServer:
        config_path = None
        if config_yaml is not None:
            config_path = tmp_path / f"config-{len(servers)}.yaml"
            config_path.write_text(config_yaml)
        environ = {"UPSTREAM_KEY": UPSTREAM_KEY, **(env or {})}
        s = Settings(
            config_path=str(config_path) if config_path else None,
            data_dir=tmp_path / "data",
            master_key=MASTER_KEY,
            database_url=database_url,
            ledger_interval_s=0.05,
            **settings,
        )
        server = UvicornServer(lambda: create_app(s, environ))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
