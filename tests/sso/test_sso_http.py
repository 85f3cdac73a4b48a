"""Single sign-on through the gateway over real HTTP, against the local OIDC provider: the browser's trip
(`/ui/sso/login` -> the provider -> `/ui/sso/callback` -> the console) followed by httpx, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from oneflow_ai.app import create_app
from oneflow_ai.identity.tables import audit_log, now_utc, tenants, users
from oneflow_ai.settings import Settings
from oneflow_ai.store.db import create_engine, migrate
from tests.conftest import MASTER_KEY
from tests.fakes.oidc_provider import FakeOIDCProvider
from tests.fakes.runner import UvicornServer
from tests.sso.conftest import CLIENT_ID, CLIENT_SECRET, USER


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
    suffix: str

    def users_of(self, subject: str) -> list[dict[str, Any]]:
        query = select(users).where(users.c.sso_issuer == self.provider.url, users.c.sso_subject == subject)
        return asyncio.run(read(self.database_url, query))

    def audit(self, action: str) -> list[dict[str, Any]]:
        return asyncio.run(read(self.database_url, select(audit_log).where(audit_log.c.action == action)))

    def sign_in(self, client: httpx.Client | None = None) -> tuple[httpx.Client, httpx.Response]:
        """A browser's sign-in: the login route, the provider, the callback, the console; every redirect followed."""
        client = client or httpx.Client(base_url=self.url, timeout=30, follow_redirects=True)
        return client, client.get("/ui/sso/login?next=/ui/keys")


@pytest.fixture
def sso_gateway(
    provider: FakeOIDCProvider, gateway_port: int, database_url: str, tmp_path: Path
) -> Iterator[SSOGateway]:
    suffix = uuid.uuid4().hex[:8]  # PostgreSQL's database is shared by the session's tests
    provider.user = {**USER, "sub": f"sub-{suffix}", "email": f"ana-{suffix}@acme.com"}
    asyncio.run(seed_tenants(database_url, suffix))
    path = tmp_path / "config.yaml"
    path.write_text(config(provider, gateway_port, suffix))
    settings = Settings(
        config_path=str(path), data_dir=tmp_path / "data", master_key=MASTER_KEY, database_url=database_url
    )
    environ = {"SSO_SECRET": CLIENT_SECRET}
    server = UvicornServer(lambda: create_app(settings, environ), port=gateway_port)
    yield SSOGateway(server.url, database_url, provider, suffix)
    server.stop()


def test_sign_in_creates_the_user_with_the_role_from_the_claims(sso_gateway: SSOGateway) -> None:
    gw = sso_gateway
    client, page = gw.sign_in()
    assert page.status_code == 200, page.text
    assert page.url.path == "/ui/keys"
    assert 'id="sign-out"' in page.text and "role-admin" in page.text
    trip = [(r.status_code, r.url.path) for r in page.history]
    assert trip == [(303, "/ui/sso/login"), (302, "/authorize"), (303, "/ui/sso/callback")]
    (user,) = gw.users_of(f"sub-{gw.suffix}")
    assert (user["tenant_id"], user["role"], user["email"]) == (
        f"acme-{gw.suffix}",
        "admin",
        f"ana-{gw.suffix}@acme.com",
    )
    assert user["name"] == "Ana Lima"
    assert "oneflow_sso" not in client.cookies  # the pending sign-in is spent
    assert any(a["target_id"] == user["id"] for a in gw.audit("user.sso_provision"))
    # the console session is a real one: the admin API's data shows on its pages, and signing out ends it
    assert client.get("/ui/keys").status_code == 200


def test_no_password_signs_in_an_sso_account(sso_gateway: SSOGateway) -> None:
    gw = sso_gateway
    gw.sign_in()
    for password in ("", "!sso", "sso"):
        r = httpx.post(
            gw.url + "/api/v1/admin/auth/login", json={"email": f"ana-{gw.suffix}@acme.com", "password": password}
        )
        assert r.status_code in (400, 401), r.text


def test_a_second_sign_in_with_changed_claims_changes_the_role(sso_gateway: SSOGateway) -> None:
    gw = sso_gateway
    gw.sign_in()
    gw.provider.user = {**gw.provider.user, "groups": ["staff"]}  # out of platform-admins: the e-mail rule applies
    _, page = gw.sign_in()
    assert page.status_code == 200 and "role-viewer" in page.text
    (user,) = gw.users_of(f"sub-{gw.suffix}")
    assert user["role"] == "viewer"
    (change,) = [a for a in gw.audit("user.sso_role_change") if a["target_id"] == user["id"]]
    assert change["detail"] == {"from": "admin", "to": "viewer"}


def test_an_unmatched_claim_is_refused_with_a_page(sso_gateway: SSOGateway) -> None:
    gw = sso_gateway
    gw.provider.user = {**gw.provider.user, "groups": ["staff"], "email": f"ana-{gw.suffix}@elsewhere.org"}
    client, page = gw.sign_in()
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "no rule of this gateway admits your account" in page.text
    assert "oneflow_console" not in client.cookies
    assert gw.users_of(f"sub-{gw.suffix}") == []
    assert any(a["detail"]["reason"] == "sso_no_matching_rule" for a in gw.audit("auth.sso_refused"))


def test_a_user_is_never_moved_to_another_tenant(sso_gateway: SSOGateway) -> None:
    gw = sso_gateway
    gw.sign_in()
    gw.provider.user = {**gw.provider.user, "groups": ["researchers"]}  # the rules now say lab
    _, page = gw.sign_in()
    assert page.status_code == 403 and "belongs to tenant" in page.text
    (user,) = gw.users_of(f"sub-{gw.suffix}")
    assert (user["tenant_id"], user["role"]) == (f"acme-{gw.suffix}", "admin")


@pytest.mark.parametrize(
    ("spoil", "status", "text"),
    [
        (lambda p: setattr(p, "redirect_state", "forged-state"), 401, "state does not match"),
        (lambda p: p.id_token_overrides.update(nonce="replayed"), 401, "nonce"),
        (lambda p: setattr(p, "sign_with_other_key", True), 401, "bad_signature"),
        (lambda p: p.id_token_overrides.update(exp=1_000_000_000, iat=999_999_000), 401, "expired"),
    ],
    ids=["state", "nonce", "signature", "expired"],
)
def test_a_spoiled_answer_is_refused_and_nobody_signed_in(
    sso_gateway: SSOGateway, spoil: Callable[[FakeOIDCProvider], None], status: int, text: str
) -> None:
    gw = sso_gateway
    spoil(gw.provider)
    client, page = gw.sign_in()
    assert page.status_code == status, page.text
    assert text in page.text and "Traceback" not in page.text
    assert "oneflow_console" not in client.cookies
    assert gw.users_of(f"sub-{gw.suffix}") == []


def test_a_callback_without_the_browsers_pending_cookie_is_refused(sso_gateway: SSOGateway) -> None:
    """Login CSRF: a callback URL made in another browser (its code and state) does not sign this one in."""
    gw = sso_gateway
    attacker = httpx.Client(base_url=gw.url, timeout=30)
    start = attacker.get("/ui/sso/login")
    back = httpx.get(start.headers["location"], follow_redirects=False, timeout=10).headers["location"]
    victim = httpx.Client(timeout=30)
    page = victim.get(back)
    assert page.status_code == 401 and "not started in this browser" in page.text
    assert gw.provider.requests["/token"] == 0
    assert "oneflow_console" not in victim.cookies


def test_a_pkce_mismatch_is_refused(sso_gateway: SSOGateway) -> None:
    """A code taken to another sign-in of the same browser (its cookie holds another verifier) is not redeemed."""
    gw = sso_gateway
    client = httpx.Client(base_url=gw.url, timeout=30)
    first = client.get("/ui/sso/login")  # this sign-in's code will be stolen
    stolen = httpx.URL(
        httpx.get(first.headers["location"], follow_redirects=False, timeout=10).headers["location"]
    ).params
    second = client.get("/ui/sso/login")  # the cookie now holds the second sign-in's state and verifier
    second_state = httpx.URL(second.headers["location"]).params["state"]
    page = client.get("/ui/sso/callback", params={"code": stolen["code"], "state": second_state})
    assert page.status_code == 401 and "PKCE verification failed" in page.text
    assert gw.users_of(f"sub-{gw.suffix}") == []


def test_the_sign_in_page_offers_sso(sso_gateway: SSOGateway) -> None:
    page = httpx.get(sso_gateway.url + "/ui/login?next=/ui/keys", timeout=30)
    assert 'href="/ui/sso/login?next=/ui/keys"' in page.text and "Sign in with Test IdP" in page.text


def test_the_pending_cookie_is_http_only_lax_and_scoped(sso_gateway: SSOGateway) -> None:
    r = httpx.get(sso_gateway.url + "/ui/sso/login", timeout=30)
    assert r.status_code == 303 and r.headers["location"].startswith(sso_gateway.provider.url + "/authorize?")
    cookie = r.headers["set-cookie"].lower()
    assert "oneflow_sso=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "path=/ui/sso" in cookie and "max-age=600" in cookie
