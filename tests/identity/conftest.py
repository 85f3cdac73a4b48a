"""Identity fixtures: a real gateway over real HTTP (SQLite and PostgreSQL) and a small admin-API client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import MASTER_KEY, GatewayFactory

JWT_SECRET = "test-jwt-secret-" + "x" * 40
REDIS_URL = "redis://127.0.0.1:6379/0"
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
PASSWORD = "correct horse battery staple"
CHAT = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}


def identity_env(**extra: str) -> dict[str, str]:
    return {"ONEFLOW_JWT_SECRET": JWT_SECRET, "ONEFLOW_SIGNUP": "open", **extra}


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


MASTER = bearer(MASTER_KEY)


@dataclass
class Client:
    """The admin API of one gateway: `c.post("/api-keys", MASTER, json=...)` → httpx.Response."""

    url: str

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.url + "/api/v1/admin" + path, headers=headers, timeout=30, **kw)

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return self.request("GET", path, headers, **kw)

    def post(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, headers, **kw)

    def patch(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, headers, **kw)

    def delete(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, headers, **kw)

    def chat(self, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(self.url + "/v1/chat/completions", headers=bearer(key), json=body or CHAT, timeout=30)

    def new_key(self, headers: dict[str, str] = MASTER, **body: Any) -> dict[str, Any]:
        r = self.post("/api-keys", headers, json={"name": "test", **body})
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def new_tenant(self, name: str = "acme") -> str:
        r = self.post("/tenants", MASTER, json={"name": name})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def new_user(self, tenant_id: str, role: str, email: str | None = None) -> tuple[str, str]:
        """(user id, access token) of a new user of `tenant_id` with `role`, logged in."""
        email = email or unique_email(role)
        r = self.post(
            "/auth/register",
            MASTER,
            json={"name": role, "email": email, "password": PASSWORD, "role": role, "tenant_id": tenant_id},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"]), self.login(email)["access_token"]

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        r = self.post("/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        tokens: dict[str, Any] = r.json()
        return tokens


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An OpenAI error body with `status`, and nothing that looks like a leak."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    for leak in ("Traceback", "sqlalchemy", "asyncpg", "sqlite3", "key_hash", "password_hash", "SELECT "):
        assert leak not in r.text, r.text
    return body


@pytest.fixture
def client(start_gateway: GatewayFactory, database_url: str) -> Client:
    """A gateway on SQLite or PostgreSQL (parametrized), without Redis."""
    return Client(start_gateway(database_url=database_url, env=identity_env()).url)
