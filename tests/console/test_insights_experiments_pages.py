"""The console's cost insights and A/B experiments pages: what the API says, confined to the tenant, with their
charts drawn by Chart.js in a real browser under the strict CSP; an owner starts an experiment with the form and
ends it; a viewer sees no form; screenshots of each page."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from oneflow_ai.store.db import create_engine
from oneflow_ai.store.ledger import Ledger, UsageRecord
from tests.console.conftest import ConsoleGateway, http_as, screenshot, sign_in, start_console_gateway
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import AiohttpServer


def yaml(upstream: str) -> str:
    dep = f"provider: openai, base_url: '{upstream}/v1', api_key: env:UPSTREAM_KEY"
    return "models:\n" + "".join(
        f"  - {{name: {n}, deployments: [{{{dep}, model: {m}}}]}}\n"
        for n, m in (("mini", "gpt-4o-mini"), ("big", "gpt-4o"), ("cheap", "gpt-5-mini"))
    )


def record(key: str, tenant: str, model: str, usd: str, **kw: Any) -> UsageRecord:
    return UsageRecord(
        request_id=f"page-{uuid.uuid4().hex}",
        created_at=datetime.now(UTC) - timedelta(hours=3),
        endpoint="chat",
        requested_model={"gpt-4o": "big", "gpt-5-mini": "cheap"}.get(model, "mini"),
        status=kw.pop("status", "ok"),
        http_status=200,
        cost_usd=Decimal(usd),
        credits=Decimal(usd) * 100,
        usage_source="upstream",
        key_id=key,
        tenant_id=tenant,
        served_model=model,
        provider="openai",
        input_tokens=1_000_000,
        output_tokens=100_000,
        **kw,
    )


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, console_upstream: tuple[OpenAIUpstream, AiohttpServer]
) -> Iterator[ConsoleGateway]:
    gateway, server = start_console_gateway(
        tmp_path_factory.mktemp("insights"), console_upstream[1].url, yaml=yaml(console_upstream[1].url)
    )
    try:
        keys = {}
        for name, tenant in (("ci", gateway.tenant_a), ("b-ci", gateway.tenant_b)):
            r = gateway.admin_api("POST", "/api-keys", json={"name": name, "tenant_id": tenant})
            assert r.status_code == 201, r.text
            keys[name] = r.json()["id"]
        exp = gateway.admin_api(
            "POST",
            "/experiments",
            json={
                "name": "mini-vs-cheap",
                "model": "mini",
                "variants": [{"name": "control", "model": "mini"}, {"name": "cheap", "model": "cheap"}],
            },
        )
        assert exp.status_code == 201, exp.text
        e = exp.json()["id"]
        # 1M in, 100k out on gpt-4o: $2.5 + $1 = $3.5 (the catalog's price), in tenant A; tenant B's own call
        rows = [
            record(keys["ci"], gateway.tenant_a, "gpt-4o", "3.5"),
            record(keys["b-ci"], gateway.tenant_b, "gpt-4o", "3.5"),
            record(
                keys["ci"], gateway.tenant_a, "gpt-4o-mini", "0.21", experiment=e, variant="control", latency_ms=300.0
            ),
            record(keys["ci"], gateway.tenant_a, "gpt-5-mini", "0.45", experiment=e, variant="cheap", latency_ms=200.0),
            record(
                keys["ci"], gateway.tenant_a, "gpt-5-mini", "0", experiment=e, variant="cheap", status="upstream_error"
            ),
        ]

        async def seed() -> None:
            engine = create_engine(gateway.database_url)
            try:
                ledger = Ledger(engine)
                for row in rows:
                    ledger.record(row)
                await ledger.close()
            finally:
                await engine.dispose()

        asyncio.run(seed())
        setattr(gateway, "experiment_id", e)  # noqa: B010
        yield gateway
    finally:
        server.stop()


def test_insights_page_shows_the_tenants_savings_only(gw: ConsoleGateway) -> None:
    with http_as(gw, "viewer") as c:
        page = c.get("/ui/insights")
        assert page.status_code == 200, page.text
        # gpt-5-mini (0.88) for the 1M/100k of gpt-4o: $0.25 + $0.2 = $0.45, saving $3.05 = 305 credits
        assert (
            "moving key `ci` from gpt-4o to gpt-5-mini (model `cheap` here) would have saved 305 credits" in page.text
        )
        assert "b-ci" not in page.text
        assert c.get("/ui/insights", params={"days": 5}).status_code == 400
        assert c.get("/ui/insights", params={"scope": "all"}).status_code == 400
    with http_as(gw, "admin_b") as c:
        page = c.get("/ui/insights")
        assert "b-ci" in page.text and "key `ci`" not in page.text
    with http_as(gw, "member") as c:
        assert c.get("/ui/insights").status_code == 403
        assert 'href="/ui/insights"' not in c.get("/ui/keys").text


def test_experiments_pages_follow_the_role_rules(gw: ConsoleGateway) -> None:
    e = getattr(gw, "experiment_id")  # noqa: B009
    with http_as(gw, "viewer") as c:
        listing = c.get("/ui/experiments")
        assert listing.status_code == 200 and "mini-vs-cheap" in listing.text and "experiment-form" not in listing.text
        results = c.get(f"/ui/experiments/{e}")
        assert (
            results.status_code == 200 and 'id="variant-cheap"' in results.text and "end-experiment" not in results.text
        )
    with http_as(gw, "admin_b") as c:
        # an experiment for every tenant: B sees it, with none of A's calls
        text = c.get(f"/ui/experiments/{e}").text
        assert "<td>cheap</td><td>cheap</td><td>0</td>" in text
    with http_as(gw, "member") as c:
        assert c.get("/ui/experiments").status_code == 403


def test_pages_in_the_browser(gw: ConsoleGateway, page: Any) -> None:
    sign_in(page, gw, "owner", then="/ui/insights")
    page.goto(gw.url + "/ui/insights")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-savings'))")
    assert "would have saved 305 credits" in page.inner_text("#insights-by-key")
    screenshot(page, "insights")

    page.goto(gw.url + "/ui/experiments")
    page.fill("#experiment-form input[name=name]", "owner-test")
    page.select_option("#experiment-form select[name=model]", "big")
    page.check("#experiment-form input[name=sticky]")
    page.fill("#experiment-form input[name=variant_0_name]", "control")
    page.select_option("#experiment-form select[name=variant_0_model]", "big")
    page.fill("#experiment-form input[name=variant_1_name]", "cheaper")
    page.select_option("#experiment-form select[name=variant_1_model]", "cheap")
    page.fill("#experiment-form input[name=variant_1_weight]", "3")
    page.click("#experiment-create")
    page.wait_for_selector("#experiment-results")
    assert "Experiment owner-test" in page.inner_text("h1") and "running" in page.inner_text("#experiment-about")
    made = gw.admin_api("GET", "/experiments").json()["data"]
    mine = next(x for x in made if x["name"] == "owner-test")
    assert (mine["tenant_id"], mine["sticky"], [v["weight"] for v in mine["variants"]]) == (gw.tenant_a, True, [1, 3])
    page.goto(gw.url + "/ui/experiments")
    screenshot(page, "experiments")

    page.goto(gw.url + f"/ui/experiments/{getattr(gw, 'experiment_id')}")  # noqa: B009
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-latency'))")
    assert page.inner_text("#variant-cheap").split("\t")[2:5] == ["2", "1", "50.00 %"]
    screenshot(page, "experiment")

    page.goto(gw.url + f"/ui/experiments/{mine['id']}")
    page.click("#end-experiment button")
    page.wait_for_selector("#experiment-about")
    assert "ended" in page.inner_text("#experiment-about")
