"""A call the load balancer may send to two replicas (`X-OneFlow-Balancer-Id`) is begun at a provider once: the
gateway claims the id in the shared Redis before its first upstream attempt and refuses a call whose id another
replica claimed (`gateway.balancer_claim`). The real app over HTTP, real Redis, the counting fake upstream."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from oneflow_ai.app import create_app
from oneflow_ai.gateway.balancer_claim import KEY_PREFIX, MAX_ID, TTL_S, WARN_EVERY_S, Claims, balancer_id
from oneflow_ai.settings import Settings
from oneflow_ai.store.resp import RespClient
from tests.billing.conftest import NO_BREAKER, ledger_for
from tests.conftest import MASTER_KEY, SHARED_REDIS_URL, UPSTREAM_KEY
from tests.fakes.counting_upstream import CountingUpstream
from tests.fakes.hooked_app import HookedApp
from tests.fakes.runner import AiohttpServer, UvicornServer
from tests.identity.conftest import DEAD_REDIS_URL

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
HEADER = "x-oneflow-balancer-id"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[CountingUpstream, str]]:
    fake = CountingUpstream(require_key=UPSTREAM_KEY)
    server = AiohttpServer(fake.app)
    yield fake, server.url
    server.stop()


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(SHARED_REDIS_URL).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {SHARED_REDIS_URL}")
    return SHARED_REDIS_URL


@pytest.fixture
def tag(redis_leftovers: Callable[[str], None]) -> str:
    """Unique to the test: its markers (the body's `user`) and its balancer ids start with it."""
    made = f"t-{uuid.uuid4().hex[:12]}"
    redis_leftovers(f"{KEY_PREFIX}{made}*")
    return made


def config(upstream_url: str) -> str:
    """`mini`, and `flaky`: a deployment the fake can be told to fail, falling back on `mini`."""
    dep = f"provider: openai, base_url: '{upstream_url}/v1', api_key: env:UPSTREAM_KEY, model: gpt-4o-mini"
    return f"""routing: {{max_attempts: 3, backoff_base_s: 0.01, {NO_BREAKER}}}
models:
  - {{name: mini, deployments: [{{{dep}}}]}}
  - {{name: flaky, deployments: [{{{dep}, headers: {{x-fake-deployment: sick}}}}], fallbacks: [mini]}}
"""


async def silence_redis(state: dict[str, Any]) -> None:
    """Make the gateway's hot-path Redis connection silent, as if Redis had stopped answering: a blocking pop
    sent on it holds every reply behind it (Redis answers a connection's commands in order) until the client's
    reply timeout drops the connection, and with it the commands not yet run."""
    resp = state["identity"].resp
    blocked = asyncio.ensure_future(resp.execute([["BLPOP", f"oneflow:test:never:{uuid.uuid4().hex}", 30]]))
    blocked.add_done_callback(lambda f: f.exception())  # its own timeout: retrieved, not logged
    state.setdefault("held by the test", []).append(blocked)
    await asyncio.sleep(0.05)  # written before the next call's claim


class Replica:
    """One gateway (as a replica behind nginx is), with hooks into its lifespan state."""

    def __init__(self, tmp_path: Path, upstream_url: str, redis_url: str | None, **settings: Any) -> None:
        (tmp_path / "config.yaml").write_text(config(upstream_url))
        self.database_url = f"sqlite:///{tmp_path / 'oneflow.db'}"
        self.claims_sent: list[str] = []
        """The balancer claims the gateway's hot-path Redis connection was sent, once `/_test/count-claims` ran."""
        s = Settings(
            config_path=str(tmp_path / "config.yaml"),
            data_dir=tmp_path / "data",
            master_key=MASTER_KEY,
            database_url=self.database_url,
            redis_url=redis_url,
            ledger_interval_s=0.05,
            **settings,
        )

        async def count_claims(state: dict[str, Any]) -> None:
            """Every command the gateway sends on its hot-path Redis connection (its own, `store.resp`) that
            writes a balancer claim, noted."""
            client = state["identity"].resp
            real = client.execute

            async def counted(commands: Sequence[Sequence[Any]]) -> list[Any]:
                for command in commands:
                    self.claims_sent += [str(a) for a in command if str(a).startswith(KEY_PREFIX)]
                return await real(commands)

            client.execute = counted

        hooks = {"/_test/count-claims": count_claims, "/_test/silence-redis": silence_redis}
        self.server = UvicornServer(lambda: HookedApp(create_app(s, {"UPSTREAM_KEY": UPSTREAM_KEY}), hooks))

    def hook(self, path: str) -> None:
        assert httpx.post(self.server.url + path).status_code == 204

    def chat(
        self, marker: str, balancer: str | None = None, *, model: str = "mini", stream: bool = False
    ) -> httpx.Response:
        headers = {**AUTH, HEADER: balancer} if balancer is not None else AUTH
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hi"}], "user": marker}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return httpx.post(self.server.url + "/v1/chat/completions", headers=headers, json=body, timeout=30)


@pytest.fixture
def replica(tmp_path: Path, upstream: tuple[CountingUpstream, str], redis_url: str) -> Iterator[Replica]:
    r = Replica(tmp_path, upstream[1], redis_url)
    yield r
    r.server.stop()


def test_a_call_whose_id_was_claimed_is_refused_without_calling_the_provider(
    replica: Replica, upstream: tuple[CountingUpstream, str], tag: str
) -> None:
    fake = upstream[0]
    first = replica.chat(f"{tag}-1", f"{tag}-id")
    assert first.status_code == 200, first.text
    # nginx passes the same client request on (the same id): JSON and streamed alike, refused before any attempt
    for n, stream in ((2, False), (3, True)):
        again = replica.chat(f"{tag}-{n}", f"{tag}-id", stream=stream)
        assert again.status_code == 502, again.text
        assert again.headers["content-type"].startswith("application/json")
        error = again.json()["error"]
        assert (error["type"], error["code"]) == ("api_error", "attempt_elsewhere")
        assert "not sent again" in error["message"]
        assert fake.arrived[f"{tag}-{n}"] == 0
    assert fake.arrived[f"{tag}-1"] == 1
    with redis.Redis.from_url(SHARED_REDIS_URL) as client:
        assert 0 < client.ttl(f"{KEY_PREFIX}{tag}-id") <= TTL_S
    # the refusal is recorded as a refusal: no deployment, no attempt, no cost
    [served] = ledger_for(replica.database_url, f"{tag}-1", expect=1)
    assert (served["status"], served["http_status"]) == ("ok", 200)
    for n in (2, 3):
        [refused] = ledger_for(replica.database_url, f"{tag}-{n}", expect=1)
        assert (refused["status"], refused["http_status"], refused["attempts"]) == ("rejected", 502, 0)
        assert refused["deployment_id"] is None and refused["cost_usd"] == 0


def test_calls_with_different_ids_are_each_served(
    replica: Replica, upstream: tuple[CountingUpstream, str], tag: str
) -> None:
    fake = upstream[0]
    for n in range(3):
        r = replica.chat(f"{tag}-{n}", f"{tag}-id-{n}", stream=n == 2)
        assert r.status_code == 200, r.text
    assert [fake.arrived[f"{tag}-{n}"] for n in range(3)] == [1, 1, 1]
    with redis.Redis.from_url(SHARED_REDIS_URL) as client:
        assert client.exists(*(f"{KEY_PREFIX}{tag}-id-{n}" for n in range(3))) == 3


def test_only_a_call_with_the_header_claims_and_only_once(
    replica: Replica, upstream: tuple[CountingUpstream, str], tag: str
) -> None:
    replica.hook("/_test/count-claims")
    for n in range(3):  # no header: no round trip to Redis for it
        assert replica.chat(f"{tag}-plain-{n}").status_code == 200
    assert replica.claims_sent == []
    # a call whose first deployment fails and whose fallback serves it: claimed once, before the first attempt
    fake = upstream[0]
    failed_before = fake.failed["sick"]
    fake.failing.add("sick")
    try:
        r = replica.chat(f"{tag}-flaky", f"{tag}-id", model="flaky")
    finally:
        fake.failing.discard("sick")
    assert r.status_code == 200, r.text
    assert fake.failed["sick"] == failed_before + 1 and fake.arrived[f"{tag}-flaky"] == 2  # two attempts, one call
    assert replica.claims_sent == [f"{KEY_PREFIX}{tag}-id"]


def test_without_redis_the_header_is_ignored(tmp_path: Path, upstream: tuple[CountingUpstream, str], tag: str) -> None:
    alone = Replica(tmp_path, upstream[1], None)
    try:
        for n in range(2):
            assert alone.chat(f"{tag}-{n}", f"{tag}-id").status_code == 200
    finally:
        alone.server.stop()
    assert [upstream[0].arrived[f"{tag}-{n}"] for n in range(2)] == [1, 1]


def test_when_redis_does_not_answer_the_call_goes_on_unclaimed(
    tmp_path: Path, upstream: tuple[CountingUpstream, str], redis_url: str, tag: str
) -> None:
    """Fail open: a claim Redis cannot take costs a double charge only if a replica also dies meanwhile; failing
    closed would stop every replica at once."""
    r = Replica(tmp_path, upstream[1], redis_url)
    try:
        for n in range(2):  # the same id twice: the second would be refused had the first claimed it
            r.hook("/_test/silence-redis")
            served = r.chat(f"{tag}-{n}", f"{tag}-id")
            assert served.status_code == 200, served.text
    finally:
        r.server.stop()
    assert [upstream[0].arrived[f"{tag}-{n}"] for n in range(2)] == [1, 1]
    with redis.Redis.from_url(SHARED_REDIS_URL) as client:
        assert not client.exists(f"{KEY_PREFIX}{tag}-id")


def test_the_header_value_is_taken_when_it_is_a_plausible_id() -> None:
    assert balancer_id("0123456789abcdef0123456789abcdef") == "0123456789abcdef0123456789abcdef"
    assert balancer_id(None) is None
    assert balancer_id("") is None
    assert balancer_id("x" * MAX_ID) == "x" * MAX_ID
    assert balancer_id("x" * (MAX_ID + 1)) is None


def test_every_route_that_calls_a_provider_reads_the_header(replica: Replica, tag: str) -> None:
    """Embeddings, Anthropic's Messages, OpenAI's Responses and the routing API's prompt: refused alike once their
    id was claimed (a chat call claims it first)."""
    assert replica.chat(f"{tag}-chat", f"{tag}-id").status_code == 200
    headers = {**AUTH, HEADER: f"{tag}-id"}
    calls = {
        "/v1/embeddings": {"model": "mini", "input": "hi", "user": tag},
        "/v1/messages": {"model": "mini", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        "/v1/responses": {"model": "mini", "input": "hi", "user": tag},
        "/api/v1/request": {"prompt": "hi", "max_tokens": 8},
    }
    for path, body in calls.items():
        r = httpx.post(replica.server.url + path, headers=headers, json=body, timeout=30)
        assert r.status_code == 502, (path, r.text)
        assert "not sent again" in r.text, (path, r.text)


async def refusing_redis(reply: bytes) -> asyncio.Server:
    """A server that answers every command with the error `reply` (as a read-only replica answers a write)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            writer.write(reply)
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def test_an_error_reply_or_no_redis_lets_the_call_go_on_warned_at_most_every_few_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fail open on an error reply as on a connection Redis refused: neither is "claimed by another replica"."""
    server = await refusing_redis(b"-READONLY You can't write against a read only replica.\r\n")
    port = server.sockets[0].getsockname()[1]
    now = [100.0]
    for url in (f"redis://127.0.0.1:{port}", DEAD_REDIS_URL):
        client = RespClient(url)
        claims = Claims(client, clock=lambda: now[0])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="oneflow"):
            assert await claims.claim("an-id") is True
            now[0] += WARN_EVERY_S / 2
            assert await claims.claim("an-id") is True  # not warned again so soon
            now[0] += WARN_EVERY_S / 2
            assert await claims.claim("an-id") is True
        warnings = [r.getMessage() for r in caplog.records if "balancer claims" in r.getMessage()]
        assert len(warnings) == 2, (url, warnings)
        await client.close()
    server.close()
    await server.wait_closed()
