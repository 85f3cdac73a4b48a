"""`transport: httpx` on a deployment: its calls go through httpx (HTTP/2 where offered), everything else through
ours; the configuration refuses what only ours does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from oneflow_ai.config.schema import GatewayConfig, Timeouts
from oneflow_ai.errors import UpstreamTimeout, UpstreamUnavailable
from oneflow_ai.upstream.httpx_transport import HttpxTransport
from oneflow_ai.upstream.wire import UpstreamRequest
from tests.conftest import MASTER_KEY

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def yaml(url: str) -> str:
    dep = f"provider: openai_compatible, base_url: '{url}/v1', api_key: env:UPSTREAM_KEY, model: gpt-4o-mini"
    return (
        "models:\n"
        f"  - {{name: via-httpx, deployments: [{{{dep}, transport: httpx}}]}}\n"
        f"  - {{name: via-ours, deployments: [{{{dep}}}]}}\n"
    )


def agents(fake: Any, marker: str) -> list[str]:
    return [r["headers"].get("User-Agent", "") for r in fake.received if marker in json.dumps(r["body"])]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_deployment_that_chose_httpx_is_served_through_it(
    start_gateway: Any, openai_upstream: Any, stream: bool
) -> None:
    fake, server = openai_upstream
    gw = start_gateway(config_yaml=yaml(server.url))
    for model in ("via-httpx", "via-ours"):
        marker = f"{model}-{stream}"
        body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": marker}]}
        r = httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30)
        assert r.status_code == 200, r.text
        assert ("data: [DONE]" in r.text) if stream else r.json()["choices"][0]["message"]["content"]
        [agent] = agents(fake, marker)
        assert agent.startswith("python-httpx/") == (model == "via-httpx"), agent


def request(url: str, **timeouts: float) -> UpstreamRequest:
    return UpstreamRequest("POST", url, {"content-type": "application/json"}, b"{}", Timeouts(**timeouts), "test")


async def test_its_failures_are_the_gateways_errors() -> None:
    transport = HttpxTransport()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(UpstreamTimeout):
            await transport.send(request(f"http://127.0.0.1:{port}/v1/x", read=0.2), stream=False)
        server.close()
        await server.wait_closed()
        with pytest.raises(UpstreamUnavailable):
            await transport.send(request(f"http://127.0.0.1:{port}/v1/x"), stream=False)
    finally:
        await transport.close()


def test_the_native_transports_settings_are_refused_with_httpx() -> None:
    dep = {"provider": "openai_compatible", "model": "x", "base_url": "https://llm.example/v1", "transport": "httpx"}
    GatewayConfig.model_validate({"models": [{"name": "m", "deployments": [dep]}]})
    with pytest.raises(ValidationError, match="max_connections, ca_bundle, client_cert and client_key"):
        GatewayConfig.model_validate({"models": [{"name": "m", "deployments": [{**dep, "max_connections": 4}]}]})
    with pytest.raises(ValidationError, match="transport"):
        GatewayConfig.model_validate({"models": [{"name": "m", "deployments": [{**dep, "transport": "curl"}]}]})
