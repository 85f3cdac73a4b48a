"""With the response cache on, `/v1/messages` served by an Anthropic deployment still passes through untranslated
(the cache reads no native call, so its inspectors do not force a translation): `thinking`, `cache_control` and
`top_k` reach the upstream as the caller sent them, and the cache says nothing about the call."""

from __future__ import annotations

from typing import Any

import anthropic

from tests.conftest import MASTER_KEY


def test_a_native_call_passes_through_with_the_cache_on(start_gateway: Any, anthropic_upstream: Any) -> None:
    upstream, server = anthropic_upstream
    claude = "claude-3-haiku-20240307"
    deployment = f'{{provider: anthropic, model: {claude}, base_url: "{server.url}", api_key: env:UPSTREAM_KEY}}'
    gw = start_gateway(
        config_yaml=f"cache: {{mode: exact}}\nmodels:\n  - name: {claude}\n    deployments: [{deployment}]\n"
    )
    client = anthropic.Anthropic(api_key=MASTER_KEY, base_url=gw.url, max_retries=0)
    content: Any = [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    for _ in range(2):
        raw = client.messages.with_raw_response.create(
            model=claude,
            max_tokens=2048,
            messages=[{"role": "user", "content": content}],
            thinking=thinking,
            extra_body={"top_k": 5},
        )
        assert "x-oneflow-cache" not in raw.headers
        sent = upstream.received[-1]["body"]
        assert (sent["thinking"], sent["top_k"], sent["messages"][0]["content"]) == (thinking, 5, content)
