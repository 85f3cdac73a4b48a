"""Issue 4: prices overridable per deployment in config, and the catalog reloadable without a restart
(`/api/v1/admin/pricing`), over real HTTP against a local OpenAI-compatible upstream."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai

from oneflow_ai.pricing import PriceCatalog
from oneflow_ai.pricing.catalog import DEFAULT_PATH
from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY

M = Decimal(10**6)
ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
GPT_4O_INPUT = '  gpt-4o:\n    provider: openai\n    mode: chat\n    input_per_million: "2.50"\n'


def chat(client: openai.OpenAI, model: str) -> str:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return raw.headers["x-request-id"]


def cost(rows: list[dict[str, Any]], request_id: str) -> Decimal:
    [row] = [r for r in rows if r["request_id"] == request_id]
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (11, 7, 3)
    value: Decimal = row["cost_usd"]
    return value


def test_the_ledger_prices_at_the_deployments_override(
    start_gateway: Any, openai_upstream: Any, tmp_path: Path
) -> None:
    _, server = openai_upstream
    db = f"sqlite:///{tmp_path / 'oneflow.db'}"
    gw = start_gateway(
        database_url=db,
        config_yaml=f"""
models:
  - name: discounted
    deployments:
      - provider: openai
        model: gpt-4o
        base_url: {server.url}/v1
        api_key: env:UPSTREAM_KEY
        price: {{input_per_million: "2", cached_input_per_million: 0.5}}
  - name: private
    deployments:
      - provider: openai_compatible
        model: my-private-llm
        base_url: {server.url}/v1
        api_key: env:UPSTREAM_KEY
        price: {{input_per_million: "1.5", output_per_million: "4"}}
""",
    )
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    discounted, private = chat(client, "discounted"), chat(client, "private")
    rows = ledger_rows(db, [discounted, private])
    # 11 prompt tokens of which 3 cached, 7 completion tokens
    assert cost(rows, discounted) == (8 * Decimal(2) + 3 * Decimal("0.5") + 7 * Decimal(10)) / M  # output: catalog's
    assert cost(rows, private) == (11 * Decimal("1.5") + 7 * Decimal(4)) / M  # no cached rate: cached as input


def test_the_catalog_reloads_without_a_restart(start_gateway: Any, openai_upstream: Any, tmp_path: Path) -> None:
    _, server = openai_upstream
    catalog = tmp_path / "catalog.yaml"
    shipped = DEFAULT_PATH.read_text(encoding="utf-8")
    assert GPT_4O_INPUT in shipped
    catalog.write_text(shipped)
    db = f"sqlite:///{tmp_path / 'oneflow.db'}"
    gw = start_gateway(
        env={"OPENAI_API_KEY": UPSTREAM_KEY, "OPENAI_BASE_URL": server.url + "/v1"},
        database_url=db,
        price_catalog=str(catalog),
    )
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    models = len(PriceCatalog.load(catalog))
    summary = {"prices_as_of": "2025-11-01", "models": models}
    assert httpx.get(gw.url + "/api/v1/admin/pricing", headers=ADMIN).json() == summary

    before = chat(client, "gpt-4o")
    catalog.write_text(shipped.replace(GPT_4O_INPUT, GPT_4O_INPUT.replace('"2.50"', '"5.00"')))
    reloaded = httpx.post(gw.url + "/api/v1/admin/pricing/reload", headers=ADMIN)
    assert reloaded.status_code == 200 and reloaded.json() == summary
    after = chat(client, "gpt-4o")

    catalog.write_text(shipped.replace('"2.50"', "2.50", 1))  # an unquoted price is refused
    refused = httpx.post(gw.url + "/api/v1/admin/pricing/reload", headers=ADMIN)
    assert refused.status_code == 400
    assert "gpt-4o" in refused.json()["error"]["message"] and "quoted" in refused.json()["error"]["message"]
    kept = chat(client, "gpt-4o")

    rows = ledger_rows(db, [before, after, kept])
    cached_and_output = 3 * Decimal("1.25") + 7 * Decimal(10)
    assert cost(rows, before) == (8 * Decimal("2.5") + cached_and_output) / M
    assert cost(rows, after) == cost(rows, kept) == (8 * Decimal(5) + cached_and_output) / M
    assert httpx.get(gw.url + "/api/v1/admin/pricing", headers=ADMIN).json() == summary


def test_pricing_admin_needs_the_master_key(start_gateway: Any) -> None:
    gw = start_gateway()
    assert httpx.post(gw.url + "/api/v1/admin/pricing/reload").status_code == 401
