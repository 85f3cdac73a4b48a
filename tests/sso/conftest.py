"""SSO fixtures: a local OpenID Connect provider on a real port (`tests.fakes.oidc_provider`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import insert, select

from oneflow_ai.app import create_app
from oneflow_ai.identity.tables import audit_log, now_utc, tenants, users
from oneflow_ai.settings import Settings
from oneflow_ai.store.db import create_engine, migrate
from tests.conftest import MASTER_KEY
from tests.fakes.oidc_provider import FakeOIDCProvider
from tests.fakes.runner import AiohttpServer, UvicornServer, free_port

T = TypeVar("T")
CLIENT_ID = "oneflow-console"
CLIENT_SECRET = "client-secret-" + "s" * 24
USER: dict[str, Any] = {
    "sub": "248289761001",
    "email": "ana@acme.com",
    "email_verified": True,
    "name": "Ana Lima",
    "groups": ["staff", "platform-admins"],
}


@pytest.fixture
def gateway_port() -> int:
    """The port the gateway under test will listen on (its callback URL is registered at the provider)."""
    return free_port()


@pytest.fixture
def provider(gateway_port: int) -> Iterator[FakeOIDCProvider]:
    fake = FakeOIDCProvider(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=f"http://127.0.0.1:{gateway_port}/ui/sso/callback",
        user=dict(USER),
    )
    server = AiohttpServer(fake.app)
    fake.url = server.url
    yield fake
    server.stop()


def blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from a test, on a thread of its own (a browser test's thread runs
    Playwright's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def authorize(url: str) -> dict[str, str]:
    """Follow the browser's trip to the provider: the query its redirect back carries."""
    reply = httpx.get(url, follow_redirects=False, timeout=10)
    assert reply.status_code == 302, reply.text
    return dict(httpx.URL(reply.headers["location"]).params)


def config(provider: FakeOIDCProvider, port: int, suffix: str) -> str:
    return f"""
sso:
  issuer: {provider.url}
  client_id: {CLIENT_ID}
  client_secret: env:SSO_SECRET
  public_url: http://127.0.0.1:{port}
  label: Test IdP
  rules:
    - {{claim: groups, contains: platform-admins, tenant: acme-{suffix}, role: admin}}
    - {{claim: groups, contains: researchers, tenant: lab-{suffix}, role: member}}
    - {{claim: email_domain, equals: acme.com, tenant: acme-{suffix}, role: viewer}}
  default: deny
"""


async def seed_tenants(database_url: str, suffix: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            for name in ("acme", "lab"):
                await conn.execute(insert(tenants).values(id=f"{name}-{suffix}", name=name, created_at=now_utc()))
    finally:
        await engine.dispose()


async def read(database_url: str, query: Any) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings().all()]
    finally:
        await engine.dispose()


@dataclass
class SSOGateway:
    url: str
    database_url: str
    provider: FakeOIDCProvider
    tenant_suffix: str
    """The rules' tenants are `acme-<tenant_suffix>` and `lab-<tenant_suffix>`."""
    suffix: str
    """The test's own user at the provider: subject `sub-<suffix>`, e-mail `ana-<suffix>@acme.com`."""

    def users_of(self, subject: str) -> list[dict[str, Any]]:
        query = select(users).where(users.c.sso_issuer == self.provider.url, users.c.sso_subject == subject)
        return blocking(read(self.database_url, query))

    def audit(self, action: str) -> list[dict[str, Any]]:
        return blocking(read(self.database_url, select(audit_log).where(audit_log.c.action == action)))

    def sign_in(self, client: httpx.Client | None = None) -> tuple[httpx.Client, httpx.Response]:
        """A browser's sign-in: the login route, the provider, the callback, the console; every redirect followed."""
        client = client or httpx.Client(base_url=self.url, timeout=30, follow_redirects=True)
        return client, client.get("/ui/sso/login?next=/ui/keys")


def with_new_user(gw: SSOGateway) -> SSOGateway:
    """The gateway for one more test: a user of its own at the provider, the provider's knobs back to normal."""
    provider, suffix = gw.provider, uuid.uuid4().hex[:8]
    provider.user = {**USER, "sub": f"sub-{suffix}", "email": f"ana-{suffix}@acme.com"}
    provider.id_token_overrides, provider.userinfo_overrides = {}, {}
    provider.sign_with_other_key, provider.redirect_state = False, None
    provider.requests.clear()
    provider.token_requests.clear()
    return replace(gw, suffix=suffix)


def start_sso_gateway(
    provider: FakeOIDCProvider, gateway_port: int, database_url: str, tmp_path: Path
) -> Iterator[SSOGateway]:
    """A gateway configured for single sign-on through `provider`, listening on `gateway_port` (registered at the
    provider), its tenants `acme-<suffix>` and `lab-<suffix>` made beforehand (rules name tenants by id)."""
    suffix = uuid.uuid4().hex[:8]  # PostgreSQL's database is shared by the session's tests
    blocking(seed_tenants(database_url, suffix))
    path = tmp_path / "config.yaml"
    path.write_text(config(provider, gateway_port, suffix))
    settings = Settings(
        config_path=str(path), data_dir=tmp_path / "data", master_key=MASTER_KEY, database_url=database_url
    )
    environ = {"SSO_SECRET": CLIENT_SECRET}
    server = UvicornServer(lambda: create_app(settings, environ), port=gateway_port)
    try:
        yield with_new_user(SSOGateway(server.url, database_url, provider, suffix, suffix))
    finally:
        server.stop()


def serve_sso_gateway(database_url: str, directory: Path) -> Iterator[SSOGateway]:
    """A provider and a gateway of their own (for a module's tests to share)."""
    port = free_port()
    provider = FakeOIDCProvider(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=f"http://127.0.0.1:{port}/ui/sso/callback",
        user=dict(USER),
    )
    server = AiohttpServer(provider.app)
    provider.url = server.url
    try:
        yield from start_sso_gateway(provider, port, database_url, directory)
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_sso_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SSOGateway]:
    directory = tmp_path_factory.mktemp("sso")
    url = (
        f"sqlite:///{directory / 'oneflow.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    yield from serve_sso_gateway(str(url), directory)


@pytest.fixture(scope="module")
def shared_sqlite_sso_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSOGateway]:
    directory = tmp_path_factory.mktemp("sso-sqlite")
    yield from serve_sso_gateway(f"sqlite:///{directory / 'oneflow.db'}", directory)


@pytest.fixture
def sso_gateway(shared_sso_gateway: SSOGateway) -> SSOGateway:
    """A gateway shared by the module's tests (on SQLite, then PostgreSQL), with a provider user of this test's own."""
    return with_new_user(shared_sso_gateway)


@pytest.fixture
def sqlite_sso_gateway(shared_sqlite_sso_gateway: SSOGateway) -> SSOGateway:
    """The same on SQLite only: for the checks that do not depend on the database."""
    return with_new_user(shared_sqlite_sso_gateway)
