"""Guardrails made through the admin API are stored: they survive a restart and reach a second app on the same
database (SQLite and PostgreSQL), through the real app over HTTP with the openai SDK as the client."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from oneflow_ai.ops import schema_revisions
from oneflow_ai.settings import Settings
from oneflow_ai.store.db import create_engine
from tests.conftest import MASTER_KEY, GatewayFactory
from tests.fakes.runner import AiohttpServer, UvicornServer
from tests.guardrails.scripted_upstream import ScriptedUpstream

MASTER = {"authorization": f"Bearer {MASTER_KEY}"}
EMAIL = "jane.doe@example.com"
REFRESH_S = 0.2
BOUND_S = REFRESH_S + 3.0
"""The documented bound (ONEFLOW_GUARDRAILS_REFRESH_S, plus one query), with room for a loaded test machine."""


@pytest.fixture
def upstream() -> Iterator[tuple[ScriptedUpstream, str]]:
    fake = ScriptedUpstream()
    server = AiohttpServer(fake.app)
    yield fake, server.url
    server.stop()


def config(upstream_url: str) -> str:
    dep = f"deployments: [{{provider: openai, model: gpt-4o-mini, base_url: '{upstream_url}/v1', api_key: sk-up}}]"
    return f"guardrails: {{}}\nmodels:\n  - {{name: plain, {dep}}}\n"


def admin_of_new_tenant(url: str) -> tuple[str, dict[str, str], str]:
    """A fresh tenant (so that nothing here touches another test's calls), an admin key of it and a member key."""
    tenant = httpx.post(url + "/api/v1/admin/tenants", headers=MASTER, json={"name": f"t-{uuid.uuid4().hex[:8]}"})
    assert tenant.status_code == 201, tenant.text
    tenant_id = tenant.json()["id"]
    keys = [
        httpx.post(url + "/api/v1/admin/api-keys", headers=MASTER, json={"tenant_id": tenant_id, "role": role})
        for role in ("admin", "member")
    ]
    assert all(k.status_code == 201 for k in keys), [k.text for k in keys]
    return tenant_id, {"authorization": f"Bearer {keys[0].json()['key']}"}, keys[1].json()["key"]


def sent_through(app: UvicornServer, fake: ScriptedUpstream, key: str) -> str:
    """What the upstream receives of a message carrying an e-mail address, called through `app` with `key`."""
    client = openai.OpenAI(api_key=key, base_url=app.url + "/v1", max_retries=0)
    fake.pieces = ["ok"]
    client.chat.completions.create(model="plain", messages=[{"role": "user", "content": f"to {EMAIL}"}])
    content: str = fake.received[-1]["messages"][0]["content"]
    return content


def wait_for(condition: Callable[[], bool], limit_s: float = BOUND_S) -> float:
    """Seconds until `condition` held (fails past `limit_s`)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < limit_s, "not seen within the bound"
        time.sleep(0.02)
    return time.monotonic() - start


def test_a_policy_made_through_the_admin_api_guards_calls_after_a_restart(
    start_gateway: GatewayFactory, database_url: str, upstream: tuple[ScriptedUpstream, str]
) -> None:
    fake, upstream_url = upstream
    first = start_gateway(config(upstream_url), database_url=database_url)
    tenant_id, admin, member = admin_of_new_tenant(first.url)
    own = {"name": f"mask-{uuid.uuid4().hex[:8]}", "entities": {"EMAIL_ADDRESS": "mask"}}
    everyone = {"name": f"redact-{uuid.uuid4().hex[:8]}", "entities": {"EMAIL_ADDRESS": "redact"}}
    policies = first.url + "/api/v1/admin/guardrails/policies"
    assert httpx.post(policies, headers=admin, json=own).status_code == 201  # the tenant's own
    assert httpx.post(policies, headers=MASTER, json=everyone).status_code == 201  # the superuser's: every tenant's
    tenants = first.url + f"/api/v1/admin/guardrails/tenants/{tenant_id}"
    assert httpx.put(tenants, headers=admin, json={"guardrails": [own["name"]]}).status_code == 200
    assert sent_through(first, fake, member) == "to ****ecom"
    first.stop()

    second = start_gateway(config(upstream_url), database_url=database_url)
    policies = second.url + "/api/v1/admin/guardrails/policies"
    listed = {p["name"]: p["source"] for p in httpx.get(policies, headers=admin).json()["data"]}
    assert (listed[own["name"]], listed[everyone["name"]]) == ("tenant", "gateway")
    assert httpx.get(f"{policies}/{own['name']}", headers=admin).json()["entities"] == {"EMAIL_ADDRESS": "mask"}
    tenants = second.url + f"/api/v1/admin/guardrails/tenants/{tenant_id}"
    assert httpx.get(tenants, headers=admin).json()["guardrails"] == [own["name"]]
    assert sent_through(second, fake, member) == "to ****ecom"
    # the superuser's policy, made before the restart, is there for the tenant too
    assert httpx.post(policies, headers=MASTER, json=everyone).status_code == 409
    assert httpx.put(tenants, headers=admin, json={"guardrails": [everyone["name"]]}).status_code == 200
    assert sent_through(second, fake, member) == "to <EMAIL_ADDRESS_1>"
    assert httpx.delete(f"{policies}/{everyone['name']}", headers=MASTER).status_code == 200


def test_a_change_on_one_app_reaches_another_on_the_same_database_within_the_refresh(
    start_gateway: GatewayFactory, database_url: str, upstream: tuple[ScriptedUpstream, str]
) -> None:
    fake, upstream_url = upstream
    one, two = (
        start_gateway(config(upstream_url), database_url=database_url, guardrails_refresh_s=REFRESH_S) for _ in range(2)
    )
    tenant_id, admin, member = admin_of_new_tenant(one.url)
    name = f"mask-{uuid.uuid4().hex[:8]}"
    on_one, on_two = (app.url + "/api/v1/admin/guardrails" for app in (one, two))
    assert sent_through(two, fake, member) == f"to {EMAIL}"

    policy = {"name": name, "entities": {"EMAIL_ADDRESS": "mask"}}
    assert httpx.post(f"{on_one}/policies", headers=admin, json=policy).status_code == 201
    assert httpx.put(f"{on_one}/tenants/{tenant_id}", headers=admin, json={"guardrails": [name]}).status_code == 200
    assert sent_through(one, fake, member) == "to ****ecom"  # at once where it was made
    listed = lambda: httpx.get(f"{on_two}/tenants/{tenant_id}", headers=admin).json()["guardrails"]  # noqa: E731
    wait_for(lambda: listed() == [name])
    assert sent_through(two, fake, member) == "to ****ecom"

    changed = {"name": name, "entities": {"EMAIL_ADDRESS": "redact"}}
    assert httpx.put(f"{on_two}/policies/{name}", headers=admin, json=changed).status_code == 200
    entities = lambda: httpx.get(f"{on_one}/policies/{name}", headers=admin).json().get("entities")  # noqa: E731
    wait_for(lambda: entities() == {"EMAIL_ADDRESS": "redact"})
    assert sent_through(one, fake, member) == "to <EMAIL_ADDRESS_1>"

    assert httpx.delete(f"{on_one}/policies/{name}", headers=admin).status_code == 200
    assert httpx.get(f"{on_one}/policies/{name}", headers=admin).status_code == 404
    wait_for(lambda: httpx.get(f"{on_two}/policies/{name}", headers=admin).status_code == 404)
    assert sent_through(two, fake, member) == f"to {EMAIL}"  # the list names a policy that is gone: skipped
    assert httpx.delete(f"{on_two}/policies/{name}", headers=admin).status_code == 404


def test_migration_0009_makes_and_drops_the_tables(database_url: str, tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)

    async def names() -> set[str]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    async def twice() -> None:
        engine = create_engine(database_url)
        row = "INSERT INTO guardrail_policies (tenant_id, name, spec, created_at, updated_at) VALUES "
        row += f"('{uuid.uuid4().hex[:12]}', 'p', '{{}}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        try:
            async with engine.begin() as conn:
                await conn.execute(text(row))
            with pytest.raises(IntegrityError):  # one policy of a name per tenant
                async with engine.begin() as conn:
                    await conn.execute(text(row))
        finally:
            await engine.dispose()

    assert asyncio.run(schema_revisions.upgrade(settings)) is not None
    assert {"guardrail_policies", "tenant_guardrails"} <= asyncio.run(names())
    asyncio.run(twice())
    assert asyncio.run(schema_revisions.downgrade(settings, "0008")) == "0008"
    assert not {"guardrail_policies", "tenant_guardrails"} & asyncio.run(names())
    assert asyncio.run(schema_revisions.upgrade(settings)) is not None
    assert {"guardrail_policies", "tenant_guardrails"} <= asyncio.run(names())
