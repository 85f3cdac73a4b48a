"""Numbers no column, JSON encoder or model can hold are a 400 naming the field, never a 500 (issue 14, Low #10):
integers beyond 64 bits (or beyond the 32-bit columns they are compared with), NaN and Infinity in metadata,
and a `max_tokens` that is not a sane positive integer (1e30 parses as a float and was silently ignored).
Over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from oneflow_ai.auth.principal import MASTER
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.call import MAX_TOKENS, chat_call, estimated_tokens
from oneflow_ai.pricing import TokenCounter
from tests.conftest import MASTER_KEY, GatewayFactory

AUTH = {"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"}
HUGE = str(2**70)
HI = '[{"role": "user", "content": "hi"}]'


def refused(r: httpx.Response, param: str) -> dict[str, Any]:
    """A 400 in OpenAI's error shape whose `param` names the field."""
    assert r.status_code == 400, r.text
    body: dict[str, Any] = r.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == param, body
    return body


@pytest.fixture
def url(start_gateway: GatewayFactory, database_url: str) -> str:
    return start_gateway(database_url=database_url).url


def post(url: str, path: str, raw: str) -> httpx.Response:
    """`raw` is sent as written: a JSON integer beyond 64 bits, `NaN` and `1e400` need no encoder's help."""
    return httpx.post(url + path, headers=AUTH, content=raw, timeout=30)


OUT_OF_RANGE = [
    ("/api/v1/estimate", f'{{"model": "demo", "input_tokens": {HUGE}}}', "input_tokens"),
    ("/api/v1/estimate", f'{{"model": "demo", "input_tokens": 1, "output_tokens": {HUGE}}}', "output_tokens"),
    ("/api/v1/estimate", f'{{"input_tokens": {HUGE}}}', "input_tokens"),  # routed, not priced
    ("/api/v1/estimate", f'{{"model": "demo", "input_tokens": {MAX_TOKENS + 1}}}', "input_tokens"),
    ("/api/v1/route", f'{{"input_tokens": {HUGE}}}', "input_tokens"),
    ("/api/v1/route", f'{{"input_tokens": 1, "output_tokens": {HUGE}}}', "output_tokens"),
    ("/api/v1/request", f'{{"prompt": "hi", "max_tokens": {HUGE}}}', "max_tokens"),
    ("/api/v1/request", '{"prompt": "hi", "max_tokens": 1e30}', "max_tokens"),
    ("/api/v1/admin/api-keys", f'{{"name": "n", "metadata": {{"n": {HUGE}}}}}', "metadata"),
    ("/api/v1/admin/api-keys", f'{{"name": "n", "metadata": {{"deep": [{{"n": -{HUGE}}}]}}}}', "metadata"),
    ("/api/v1/admin/api-keys", '{"name": "n", "metadata": {"n": NaN}}', "metadata"),
    ("/api/v1/admin/api-keys", '{"name": "n", "metadata": {"n": 1e400}}', "metadata"),
]
"""(path, body as sent, the field the 400 names)."""


def test_out_of_range_numbers_are_a_400(url: str) -> None:
    for path, raw, param in OUT_OF_RANGE:
        refused(post(url, path, raw), param)


def test_key_metadata_patch_and_audit_cursor(url: str) -> None:
    created = post(url, "/api/v1/admin/api-keys", '{"name": "n", "metadata": {"n": 9223372036854775807}}')
    assert created.status_code == 201 and created.json()["metadata"] == {"n": 2**63 - 1}, created.text  # 64 bits hold
    key = "/api/v1/admin/api-keys/" + created.json()["id"]
    for raw in (f'{{"metadata": {{"n": {HUGE}}}}}', '{"metadata": {"n": Infinity}}'):
        refused(httpx.patch(url + key, headers=AUTH, content=raw, timeout=30), "metadata")
    assert httpx.get(url + key, headers=AUTH).json()["metadata"] == {"n": 2**63 - 1}

    # The audit id is an INTEGER column: 2**70 overflowed SQLite's 64 bits, 2**40 PostgreSQL's 32.
    for before in (HUGE, str(2**40)):
        refused(httpx.get(url + "/api/v1/admin/audit", headers=AUTH, params={"before": before}), "before")
    page = httpx.get(url + "/api/v1/admin/audit", headers=AUTH, params={"before": str(2**31 - 1)})
    assert page.status_code == 200 and page.json()["data"], page.text


def test_a_deeply_nested_admin_body_is_a_400(url: str) -> None:
    """500 levels of metadata exhausted the stack checking it for NUL (a 500); 50,000 failed FastAPI's JSON parse,
    answered 400 but labelled `internal_error`."""
    for levels, code in ((500, "invalid_request"), (50_000, "invalid_json")):
        raw = '{"name": "n", "metadata": {"a": ' + "[" * levels + "]" * levels + "}}"
        r = post(url, "/api/v1/admin/api-keys", raw)
        assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
        assert r.json()["error"]["type"] == "invalid_request_error", r.text
    within = '{"name": "n", "metadata": {"a": ' + "[" * 40 + "]" * 40 + "}}"
    assert post(url, "/api/v1/admin/api-keys", within).status_code == 201


def test_a_usage_filter_with_nul_is_a_400(url: str) -> None:
    """PostgreSQL refuses NUL in a query's text; no stored value has one (found by schemathesis)."""
    for name in ("key", "user", "end_user", "department", "tenant", "model", "provider"):
        refused(httpx.get(url + "/api/v1/usage", headers=AUTH, params={name: "a\x00b"}), name)
    assert httpx.get(url + "/api/v1/usage", headers=AUTH, params={"provider": "demo"}).status_code == 200


def test_a_completion_limit_is_a_positive_integer(start_gateway: GatewayFactory) -> None:
    """No database is involved: SQLite only."""
    url = start_gateway().url
    for name in ("max_tokens", "max_completion_tokens"):
        for value in ("1e30", HUGE, str(MAX_TOKENS + 1), "1.5", "0", "-1", '"100"', "true", "{}"):
            body = f'{{"model": "demo", "messages": {HI}, "{name}": {value}}}'
            for path in ("/v1/chat/completions", "/api/v1/chat/completions"):
                refused(post(url, path, body), name)

    for extra in ('"max_tokens": 5', '"max_completion_tokens": 5', '"max_tokens": null'):
        r = post(url, "/v1/chat/completions", f'{{"model": "demo", "messages": {HI}, {extra}}}')
        assert r.status_code == 200, r.text
    served = post(url, "/api/v1/request", '{"prompt": "hi", "max_tokens": 5}')
    assert served.status_code == 200, served.text

    # Anthropic's Messages API requires max_tokens; beyond the bound it is refused in Anthropic's error shape.
    body = f'{{"model": "demo", "max_tokens": {HUGE}, "messages": {HI}}}'
    r = httpx.post(url + "/v1/messages", headers={"x-api-key": MASTER_KEY}, content=body, timeout=30)
    assert r.status_code == 400 and r.json()["type"] == "error", r.text
    assert "max_tokens" in r.json()["error"]["message"]


def test_the_estimate_reads_the_limit_it_was_given() -> None:
    """What the budget and token-rate estimates use is the caller's limit, checked, never a fallback for a float."""
    call = chat_call(
        "r", MASTER, {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 7}, None
    )
    assert estimated_tokens(call, TokenCounter())[1] == 7
    with pytest.raises(InvalidRequest) as e:
        chat_call(
            "r", MASTER, {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e30}, None
        )
    assert e.value.param == "max_tokens"
