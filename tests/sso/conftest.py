"""SSO fixtures: a local OpenID Connect provider on a real port (`tests.fakes.oidc_provider`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.oidc_provider import FakeOIDCProvider
from tests.fakes.runner import AiohttpServer, free_port

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


def authorize(url: str) -> dict[str, str]:
    """Follow the browser's trip to the provider: the query its redirect back carries."""
    reply = httpx.get(url, follow_redirects=False, timeout=10)
    assert reply.status_code == 302, reply.text
    return dict(httpx.URL(reply.headers["location"]).params)
