"""Issue 14 #1, at the edge: an end-user id (the body's `user`, Anthropic's `metadata.user_id`, the `X-User-Id`
header) goes into the ledger, so one the ledger could not store (over 256 characters, a NUL or another control
character) is refused with a 400 `invalid_user` before any upstream call; one that fits is served."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.billing.conftest import config, ledger_for
from tests.conftest import MASTER_KEY

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
HI = [{"role": "user", "content": "hi"}]
LONG = "u" * 257


@pytest.fixture
def url(start_gateway: Any, openai_upstream: Any) -> str:
    return str(start_gateway(config_yaml=config(openai_upstream[1].url)).url)


@pytest.mark.parametrize(
    ("path", "body", "headers", "param"),
    [
        ("/v1/chat/completions", {"model": "mini", "messages": HI, "user": LONG}, {}, "user"),
        ("/v1/chat/completions", {"model": "mini", "messages": HI, "user": "a\x00b"}, {}, "user"),
        ("/v1/chat/completions", {"model": "mini", "messages": HI, "user": "a\nb"}, {}, "user"),
        ("/v1/chat/completions", {"model": "mini", "messages": HI, "user": 42}, {}, "user"),
        ("/v1/chat/completions", {"model": "mini", "messages": HI}, {"x-user-id": LONG}, "x-user-id"),
        ("/v1/embeddings", {"model": "mini", "input": "hi", "user": "a\x00"}, {}, "user"),
        ("/api/v1/request", {"prompt": "hi"}, {"x-user-id": LONG}, "x-user-id"),
    ],
    ids=["long", "nul", "newline", "not-a-string", "long-header", "embeddings-nul", "api-request-long-header"],
)
def test_an_end_user_the_ledger_cannot_keep_is_refused(
    url: str, openai_upstream: Any, path: str, body: dict[str, Any], headers: dict[str, str], param: str
) -> None:
    upstream = openai_upstream[0]
    before = len(upstream.received)
    r = httpx.post(url + path, headers={**AUTH, **headers}, json=body, timeout=10)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_user" and error["param"] == param and error["type"] == "invalid_request_error"
    assert len(upstream.received) == before  # refused before any upstream call


def test_anthropic_metadata_user_id_is_checked(url: str) -> None:
    body = {"model": "mini", "max_tokens": 10, "messages": HI, "metadata": {"user_id": "x" * 300}}
    r = httpx.post(url + "/v1/messages", headers={"x-api-key": MASTER_KEY}, json=body, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "error" and "metadata.user_id" in r.json()["error"]["message"]


def test_an_end_user_that_fits_is_served_and_recorded(url: str, tmp_path: Any) -> None:
    fits = "é" * 256  # characters, not bytes
    r = httpx.post(
        url + "/v1/chat/completions", headers=AUTH, json={"model": "mini", "messages": HI, "user": fits}, timeout=10
    )
    assert r.status_code == 200, r.text
    header = "h" * 256
    r = httpx.post(
        url + "/v1/chat/completions", headers={**AUTH, "x-user-id": header}, json={"model": "mini", "messages": HI}
    )
    assert r.status_code == 200, r.text
    db = f"sqlite:///{tmp_path / 'data' / 'oneflow.db'}"
    assert len(ledger_for(db, fits, expect=1)) == 1 and len(ledger_for(db, header, expect=1)) == 1
