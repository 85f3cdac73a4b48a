"""Issue 18, semantic matching through the real app (the openai SDK over HTTP, the fake OpenAI upstream): a
paraphrase is served from the cache with `x-oneflow-cache: hit` and its similarity, a near miss is not, another
tenant never is; with an embeddings model of the gateway, its calls go through the pipeline and are billed.
With Redis, two gateways share the vectors."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from oneflow_ai.app import create_app
from oneflow_ai.settings import Settings
from oneflow_ai.store.db import create_engine
from oneflow_ai.store.tables import usage_records
from tests.api.ledger_rows import ledger_rows
from tests.cache.conftest import JWT_SECRET, sdk, tenant_key, upstream_calls
from tests.conftest import MASTER_KEY, SHARED_REDIS_URL, UPSTREAM_KEY
from tests.fakes.runner import AiohttpServer, UvicornServer


def config(upstream: str) -> str:
    deployment = f'base_url: "{upstream}/v1", api_key: env:UPSTREAM_KEY'
    return f"""cache: {{mode: semantic, ttl_s: 600}}
models:
  - name: mini
    deployments: [{{provider: openai, model: gpt-4o-mini, {deployment}}}]
  - name: piped
    cache: {{embedding_model: embed}}
    deployments: [{{provider: openai, model: gpt-4o-mini, {deployment}}}]
  - name: embed
    mode: embedding
    deployments: [{{provider: openai, model: text-embedding-3-small, {deployment}}}]
"""


Start = Callable[..., UvicornServer]


@pytest.fixture(scope="module")
def start_semantic(tmp_path_factory: pytest.TempPathFactory, module_upstream: AiohttpServer) -> Iterator[Start]:
    servers: list[UvicornServer] = []
    root = tmp_path_factory.mktemp("semantic")

    def start(name: str, redis_url: str | None = None, database: str | None = None) -> UvicornServer:
        path = root / f"{name}.yaml"
        path.write_text(config(module_upstream.url))
        db = database or name
        settings = Settings(
            config_path=str(path),
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
def gw(start_semantic: Start) -> UvicornServer:
    return start_semantic("memory")


def ask(url: str, key: str, system: str, text: str, model: str = "mini") -> tuple[str, Any]:
    """(the answer's content, its raw response), asked with the SDK."""
    raw = sdk(url, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": system}, {"role": "user", "content": text}]
    )
    return str(raw.parse().choices[0].message.content), raw


def served_exactly_again(url: str, key: str, system: str, text: str, model: str = "mini") -> None:
    """Wait until the first answer is kept (the same call again is an exact hit): it is indexed with it."""
    deadline = time.monotonic() + 30
    while ask(url, key, system, text, model)[1].headers["x-oneflow-cache"] != "hit":
        assert time.monotonic() < deadline, "the first answer was never kept"


def test_a_paraphrase_is_a_semantic_hit_and_a_near_miss_is_not(
    gw: UvicornServer, module_upstream: AiohttpServer
) -> None:
    tenant, key = tenant_key(gw.url)
    system = f"marker {uuid.uuid4().hex}"  # in the rest of the request: the same for every call below
    first, raw = ask(gw.url, key, system, "What is the capital of France?")
    assert raw.headers["x-oneflow-cache"] == "miss"
    served_exactly_again(gw.url, key, system, "What is the capital of France?")

    again, raw = ask(gw.url, key, system, "what's the capital of France")
    assert raw.headers["x-oneflow-cache"] == "hit" and again == first
    assert 0.92 <= float(raw.headers["x-oneflow-cache-similarity"]) < 1.0
    assert upstream_calls(module_upstream, system) == 1
    (row,) = ledger_rows(gw.database_url, [raw.headers["x-request-id"]])  # type: ignore[attr-defined]
    assert (row["cache_hit"], row["cache_kind"], row["cost_usd"], row["tenant_id"]) == (True, "semantic", 0, tenant)
    assert row["saved_usd"] > 0

    _, raw = ask(gw.url, key, system, "What is the capital of Germany?")  # close in the embedding, another name
    assert raw.headers["x-oneflow-cache"] == "miss" and "x-oneflow-cache-similarity" not in raw.headers
    _, raw = ask(gw.url, key, system, "What is not the capital of France?")  # a negation
    assert raw.headers["x-oneflow-cache"] == "miss"
    assert upstream_calls(module_upstream, system) == 3

    _, other_key = tenant_key(gw.url)
    _, raw = ask(gw.url, other_key, system, "what's the capital of France")  # another tenant: never A's entry
    assert raw.headers["x-oneflow-cache"] == "miss"
    assert upstream_calls(module_upstream, system) == 4


def embedding_rows(database_url: str, tenant: str) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                query = select(usage_records).where(
                    usage_records.c.tenant_id == tenant, usage_records.c.endpoint == "embeddings"
                )
                return [dict(r._mapping) for r in await conn.execute(query)]
        finally:
            await engine.dispose()

    return asyncio.run(fetch())


def test_an_embeddings_model_of_the_gateway_is_called_through_the_pipeline_and_billed(
    gw: UvicornServer, module_upstream: AiohttpServer
) -> None:
    """The fake upstream gives every text the same vector: the similarity is 1 and the guard alone decides."""
    tenant, key = tenant_key(gw.url)
    system = f"marker {uuid.uuid4().hex}"
    first, raw = ask(gw.url, key, system, "What is 2+2?", model="piped")
    assert raw.headers["x-oneflow-cache"] == "miss"
    served_exactly_again(gw.url, key, system, "What is 2+2?", model="piped")
    again, raw = ask(gw.url, key, system, "what is two plus two", model="piped")
    assert raw.headers["x-oneflow-cache"] == "hit" and again == first
    assert float(raw.headers["x-oneflow-cache-similarity"]) == pytest.approx(1.0, abs=1e-3)
    _, raw = ask(gw.url, key, system, "What is 2+3?", model="piped")  # the same vector, another number
    assert raw.headers["x-oneflow-cache"] == "miss"

    deadline = time.monotonic() + 30
    while len(rows := embedding_rows(gw.database_url, tenant)) < 3:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, rows
    assert all(r["requested_model"] == "embed" and r["status"] == "ok" and r["cost_usd"] > 0 for r in rows)
    fake = module_upstream.fake  # type: ignore[attr-defined]
    assert any(r["path"] == "/v1/embeddings" for r in fake.received)


def test_two_gateways_on_one_redis_share_vectors(
    start_semantic: Start, module_upstream: AiohttpServer, redis_leftovers: Callable[[str], None]
) -> None:
    one = start_semantic("redis-one", SHARED_REDIS_URL, database="shared")
    two = start_semantic("redis-two", SHARED_REDIS_URL, database="shared")
    tenant, key = tenant_key(one.url)
    redis_leftovers(f"oneflow:cache:exact:{tenant}:*")
    redis_leftovers(f"oneflow:cache:sem:{tenant}:*")
    system = f"marker {uuid.uuid4().hex}"
    first, _ = ask(one.url, key, system, "How do I boil an egg?")
    served_exactly_again(two.url, key, system, "How do I boil an egg?")  # kept in Redis: the other gateway sees it
    again, raw = ask(two.url, key, system, "How can I boil an egg?")
    assert raw.headers["x-oneflow-cache"] == "hit" and again == first
    assert upstream_calls(module_upstream, system) == 1
