"""Azure OpenAI and OpenAI-compatible presets over real HTTP; a client that leaves cancels the upstream."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes import openai_upstream as fake

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def gateway(start_gateway: Any, openai_upstream: Any, database_url: str) -> tuple[Any, Any, str]:
    upstream, server = openai_upstream
    gw = start_gateway(
        database_url=database_url,
        config_yaml=f"""
models:
  - name: azure-gpt
    deployments:
      - provider: azure
        model: gpt-4o
        azure_deployment: prod-gpt4o
        base_url: {server.url}
        api_version: "2024-10-21"
        api_key: env:UPSTREAM_KEY
  - name: llama
    deployments:
      - provider: groq
        model: llama-3.3-70b-versatile
        base_url: {server.url}/v1
        api_key: env:UPSTREAM_KEY
  - name: slow
    deployments:
      - provider: openai_compatible
        model: fake-slow-stream
        base_url: {server.url}/v1
        api_key: env:UPSTREAM_KEY
""",
    )
    return gw, upstream, database_url


def test_azure_deployment_url_version_and_key_header(gateway: tuple[Any, Any, str]) -> None:
    gw, upstream, _ = gateway
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    completion = client.chat.completions.create(model="azure-gpt", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == fake.REPLY
    sent = upstream.received[-1]
    assert sent["path"] == "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21"
    assert sent["headers"]["api-key"] == UPSTREAM_KEY and "Authorization" not in sent["headers"]


def test_openai_compatible_preset_is_configuration(gateway: tuple[Any, Any, str]) -> None:
    gw, upstream, _ = gateway
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="llama", messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().choices[0].message.content == fake.REPLY
    assert raw.headers["x-oneflow-provider"] == "groq"
    assert upstream.received[-1]["body"]["model"] == "llama-3.3-70b-versatile"


def test_client_disconnect_cancels_the_upstream_and_records_partial_usage(gateway: tuple[Any, Any, str]) -> None:
    gw, upstream, db = gateway
    before = upstream.cancelled
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        headers=AUTH,
        timeout=10,
        json={"model": "slow", "stream": True, "messages": [{"role": "user", "content": "go"}]},
    ) as r:
        request_id = r.headers["x-request-id"]
        lines = r.iter_lines()
        received = [next(lines) for _ in range(6)]  # three words and their blank separators
    assert sum(1 for line in received if line.startswith("data:")) == 3
    deadline = time.monotonic() + 5
    while upstream.cancelled == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.cancelled == before + 1, "the upstream request was not cancelled"
    [row] = ledger_rows(db, [request_id])
    assert row["status"] == "client_aborted" and row["usage_source"] == "counted"
    assert row["output_tokens"] >= 3 and row["input_tokens"] > 0
