"""Issue 2 acceptance: every failure is the OpenAI error JSON with the right status, and nothing is lost."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY
from tests.fakes.openai_upstream import RATE_LIMITED
from tests.fakes.runner import free_port

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
HI = [{"role": "user", "content": "hi"}]


def config(upstream_url: str) -> str:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    dep = f"provider: openai_compatible\n        base_url: {upstream_url}/v1\n        api_key: env:UPSTREAM_KEY"
    return f"""
models:
  - name: broken
    deployments:
      - {dep}
        model: fake-error-500
  - name: limited
    deployments:
      - {dep}
        model: fake-429
  - name: picky
    deployments:
      - {dep}
        model: fake-400
  - name: hangs
    deployments:
      - {dep}
        model: fake-hang
        timeouts: {{connect: 1, read: 0.5, stream_idle: 0.5}}
  - name: refused
    deployments:
      - provider: openai_compatible
        base_url: {closed}
        model: anything
        timeouts: {{connect: 1}}
"""


@pytest.fixture
def gateway(start_gateway: Any, openai_upstream: Any, database_url: str) -> tuple[str, str]:
    _, server = openai_upstream
    gw = start_gateway(config_yaml=config(server.url), database_url=database_url, max_body_bytes=4096)
    return gw.url, database_url


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "Traceback" not in error["message"]
    if code is not None:
        assert error["code"] == code
    return dict(error)


def post(
    url: str, body: Any = None, *, content: bytes | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        json=body,
        content=content,
        headers=AUTH if headers is None else headers,
        timeout=10,
    )


def test_malformed_json(gateway: tuple[str, str]) -> None:
    url, _ = gateway
    r = post(url, content=b'{"model": "demo", "messages": [', headers={**AUTH, "content-type": "application/json"})
    assert_openai_error(r, 400, "invalid_json")


def test_missing_model(gateway: tuple[str, str]) -> None:
    error = assert_openai_error(post(gateway[0], {"messages": HI}), 400, "missing_model")
    assert error["param"] == "model"


def test_bad_messages(gateway: tuple[str, str]) -> None:
    assert_openai_error(post(gateway[0], {"model": "demo", "messages": "hi"}), 400)
    assert_openai_error(post(gateway[0], ["not", "an", "object"]), 400)


def test_unknown_model(gateway: tuple[str, str]) -> None:
    assert_openai_error(post(gateway[0], {"model": "nope", "messages": HI}), 404, "model_not_found")


def test_wrong_and_missing_key(gateway: tuple[str, str]) -> None:
    assert_openai_error(
        post(gateway[0], {"model": "demo", "messages": HI}, headers={"authorization": "Bearer sk-wrong"}),
        401,
        "invalid_api_key",
    )
    assert_openai_error(post(gateway[0], {"model": "demo", "messages": HI}, headers={}), 401, "missing_api_key")


def test_x_api_key_header_is_accepted(gateway: tuple[str, str]) -> None:
    r = post(gateway[0], {"model": "demo", "messages": HI}, headers={"x-api-key": MASTER_KEY})
    assert r.status_code == 200


def test_body_too_large(gateway: tuple[str, str]) -> None:
    big = {"model": "demo", "messages": [{"role": "user", "content": "x" * 5000}]}
    assert_openai_error(post(gateway[0], big), 413, "payload_too_large")


def test_unknown_route_and_method(gateway: tuple[str, str]) -> None:
    assert_openai_error(httpx.get(gateway[0] + "/v1/nothing-here", headers=AUTH), 404)
    assert_openai_error(httpx.get(gateway[0] + "/v1/chat/completions", headers=AUTH), 405)


def test_upstream_500_keeps_its_message_and_is_recorded(gateway: tuple[str, str]) -> None:
    url, db = gateway
    r = post(url, {"model": "broken", "messages": HI})
    error = assert_openai_error(r, 502)
    assert "The server had an error while processing your request." in error["message"]
    [row] = ledger_rows(db, [r.headers["x-request-id"]])
    assert row["status"] == "upstream_error" and row["http_status"] == 502 and row["cost_usd"] == 0


def test_upstream_429_is_429(gateway: tuple[str, str]) -> None:
    error = assert_openai_error(post(gateway[0], {"model": "limited", "messages": HI}), 429)
    assert "Rate limit reached" in error["message"]


def test_upstream_400_is_returned_as_is(gateway: tuple[str, str]) -> None:
    error = assert_openai_error(post(gateway[0], {"model": "picky", "messages": HI}), 400, "invalid_value")
    assert error["param"] == "temperature" and "must be at most 2" in error["message"]


def test_upstream_timeout_is_504(gateway: tuple[str, str]) -> None:
    assert_openai_error(post(gateway[0], {"model": "hangs", "messages": HI}), 504, "upstream_timeout")
    assert_openai_error(post(gateway[0], {"model": "hangs", "messages": HI, "stream": True}), 504, "upstream_timeout")


def test_refused_connection_is_503(gateway: tuple[str, str]) -> None:
    assert_openai_error(post(gateway[0], {"model": "refused", "messages": HI}), 503, "upstream_unavailable")


def test_sdk_sees_typed_errors(gateway: tuple[str, str]) -> None:
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gateway[0] + "/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=HI)  # type: ignore[arg-type]
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="broken", messages=HI)  # type: ignore[arg-type]
    assert info.value.status_code == 502
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="sk-bad", base_url=gateway[0] + "/v1", max_retries=0).models.list()


def test_a_request_id_sent_twice_is_answered_back_and_both_calls_are_recorded(gateway: tuple[str, str]) -> None:
    """A client's `x-request-id` is its own: answered back, logged, never the ledger's key (a reused one would
    otherwise leave the second call unrecorded, and unbilled)."""
    url, db = gateway
    answers = [
        httpx.post(
            url + "/v1/chat/completions",
            headers={**AUTH, "x-request-id": "the-same-id"},
            json={"model": "demo", "messages": HI},
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in answers] == [200, 200]
    assert [r.headers["x-request-id"] for r in answers] == ["the-same-id", "the-same-id"]
    ours = [r.headers["x-oneflow-request-id"] for r in answers]
    assert ours[0] != ours[1] and all(i.startswith("req_") for i in ours)
    rows = ledger_rows(db, ours)
    assert sorted(r["request_id"] for r in rows) == sorted(ours)
    assert all(r["status"] == "ok" and r["output_tokens"] > 0 for r in rows)


@pytest.mark.parametrize(
    ("path", "extra"),
    [("/v1/chat/completions", {}), ("/v1/chat/completions", {"stream": True}), ("/v1/messages", {"max_tokens": 16})],
    ids=["chat", "streamed-chat", "messages"],
)
def test_upstream_429_keeps_its_retry_after_and_rate_limit_headers(
    gateway: tuple[str, str], path: str, extra: dict[str, Any]
) -> None:
    """Every deployment answered 429: the client's 429 carries the upstream's `Retry-After` and `x-ratelimit-*`."""
    r = httpx.post(gateway[0] + path, json={"model": "limited", "messages": HI, **extra}, headers=AUTH, timeout=10)
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == RATE_LIMITED["retry-after"]
    for name in ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"):
        assert r.headers[name] == RATE_LIMITED[name]
