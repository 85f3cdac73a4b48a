"""Gateways with a response cache, over real HTTP, in front of the fake OpenAI upstream (which counts calls)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from oneflow_ai.app import create_app
from oneflow_ai.settings import Settings
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import AiohttpServer, UvicornServer

JWT_SECRET = "test-jwt-secret-" + "x" * 40
MASTER = {"authorization": f"Bearer {MASTER_KEY}"}


def cache_config(upstream_url: str, cache: str = "{mode: exact, ttl_s: 600}") -> str:
    def group(name: str, model: str, extra: str = "") -> str:
        return f"""
  - name: {name}{extra}
    deployments:
      - {{provider: openai, model: {model}, base_url: "{upstream_url}/v1", api_key: env:UPSTREAM_KEY}}"""

    return (
        f"cache: {cache}\nmodels:"
        + group("mini", "gpt-4o-mini", "\n    aliases: [mini-alias]")
        + group("warm", "gpt-4o-mini", "\n    cache: {allow_temperature: true, ttl_s: 120}")
        + group("nocache", "gpt-4o-mini", "\n    cache: {mode: off}")
        + group("cut", "fake-cut-stream")
        + group("slow", "fake-slow-stream")
        + group("broken", "fake-error-500")
        + "\n"
    )


Start = Callable[..., UvicornServer]


@pytest.fixture(scope="module")
def start_cached(tmp_path_factory: pytest.TempPathFactory, module_upstream: AiohttpServer) -> Iterator[Start]:
    """`start_cached(name, redis_url=None, database=None)`: a gateway with the cache configured (`cache_config`);
    gateways given the same `database` share it (and so their tenants and keys)."""
    servers: list[UvicornServer] = []
    root = tmp_path_factory.mktemp("cache")

    def start(name: str, redis_url: str | None = None, database: str | None = None, cache: str | None = None) -> Any:
        config = root / f"{name}.yaml"
        config.write_text(cache_config(module_upstream.url, *((cache,) if cache else ())))
        db = database or name
        settings = Settings(
            config_path=str(config),
            data_dir=root / f"data-{db}",
            master_key=MASTER_KEY,
            database_url=f"sqlite:///{root / db}.db",
            ledger_interval_s=0.05,
            redis_url=redis_url,
        )
        environ = {"UPSTREAM_KEY": UPSTREAM_KEY, "ONEFLOW_JWT_SECRET": JWT_SECRET}
        server = UvicornServer(lambda: create_app(settings, environ))
        server.database_url = settings.database_url  # type: ignore[attr-defined]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def module_upstream() -> Iterator[AiohttpServer]:
    fake = OpenAIUpstream(require_key=UPSTREAM_KEY)
    server = AiohttpServer(fake.app)
    server.fake = fake  # type: ignore[attr-defined]
    yield server
    server.stop()


def upstream_calls(upstream: AiohttpServer, marker: str) -> int:
    """How many chat calls reached the upstream with `marker` in their messages."""
    fake: OpenAIUpstream = upstream.fake  # type: ignore[attr-defined]
    return sum(marker in str(r["body"].get("messages")) for r in fake.received)


def prompt(tag: str = "q") -> str:
    return f"{tag} {uuid.uuid4().hex}: what is 2+2?"


def sdk(url: str, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=url + "/v1", max_retries=0)


def admin(url: str, method: str, path: str, key: str = MASTER_KEY, **kw: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"}
    return httpx.request(method, url + "/api/v1/admin" + path, headers=headers, timeout=30, **kw)


def tenant_key(url: str, role: str = "admin", tenant: str | None = None) -> tuple[str, str]:
    """(tenant id, the secret of a new key of it with `role`): a new tenant unless `tenant` is given."""
    if tenant is None:
        r = admin(url, "POST", "/tenants", json={"name": "t-" + uuid.uuid4().hex[:8]})
        assert r.status_code == 201, r.text
        tenant = str(r.json()["id"])
    r = admin(url, "POST", "/api-keys", json={"name": "k", "tenant_id": tenant, "role": role})
    assert r.status_code == 201, r.text
    return tenant, str(r.json()["key"])
