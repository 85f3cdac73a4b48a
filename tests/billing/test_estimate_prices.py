"""`POST /api/v1/estimate` prices a model as the ledger charges its calls: with the deployment's `price` override
(issue 15 #7: the estimate used the catalog's price of the upstream model, or had none, for calls then charged)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.billing.conftest import ledger_for
from tests.conftest import MASTER_KEY
from tests.fakes import openai_upstream as fake

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def config(upstream_url: str) -> str:
    """`own`: a model the catalog does not know, priced by its deployment; `cheap`: gpt-4o-mini at its own price."""
    dep = f"provider: openai, base_url: '{upstream_url}/v1', api_key: env:UPSTREAM_KEY"
    return (
        "models:\n"
        f"  - {{name: own, deployments: [{{{dep}, model: in-house-7b,"
        " price: {input_per_million: '2', output_per_million: '8'}}]}\n"
        f"  - {{name: cheap, deployments: [{{{dep}, model: gpt-4o-mini,"
        " price: {input_per_million: '0.01', output_per_million: '0.02'}}]}\n"
        "routing: {max_attempts: 1}\n"
    )


@pytest.fixture
def url(start_gateway: Any, openai_upstream: Any, database_url: str) -> str:
    return str(start_gateway(config_yaml=config(openai_upstream[1].url), database_url=database_url).url)


@pytest.mark.parametrize("model", ["own", "cheap"])
def test_the_estimate_is_what_the_ledger_charges(url: str, database_url: str, tag: str, model: str) -> None:
    hi = [{"role": "user", "content": "hi"}]
    call = httpx.post(
        url + "/v1/chat/completions", headers=AUTH, timeout=10, json={"model": model, "user": tag, "messages": hi}
    )
    assert call.status_code == 200, call.text
    [row] = ledger_for(database_url, tag, expect=1)
    assert (row["input_tokens"], row["output_tokens"]) == (fake.PROMPT_TOKENS, fake.COMPLETION_TOKENS)
    assert row["cost_usd"] > 0
    tokens = {k: row[k] for k in ("input_tokens", "output_tokens", "cached_tokens")}
    r = httpx.post(url + "/api/v1/estimate", headers=AUTH, json={"model": model, **tokens})
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["cost_usd"]) == row["cost_usd"]
    assert Decimal(r.json()["credits"]) == row["cost_usd"] * 100
