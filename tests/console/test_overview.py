"""The overview page (the console's landing page): calls sent with a key show in its figures and its by-model
chart (in the browser, Chart.js drawing the page's JSON under the strict CSP), confined to the caller's tenant
like the analytics API; the range chooser; bad ranges are an error page."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from typing import Any

import httpx
import openai

from tests.billing.conftest import expected_cost
from tests.console.conftest import MASTER, ConsoleGateway, SeedUser, http_as, screenshot, sign_in

DATA = re.compile(r'<script type="application/json" id="overview-data">(.*?)</script>', re.S)


def fresh_tenant(gw: ConsoleGateway, name: str) -> tuple[str, SeedUser, dict[str, Any]]:
    """(tenant id, its owner, an API key of the owner's: `id`, `key`) in a tenant no other test writes to."""
    r = gw.admin_api("POST", "/tenants", json={"name": name})
    assert r.status_code == 201, r.text
    tenant = r.json()["id"]
    owner = gw.add_user(f"{name}-owner", tenant, "owner")
    key = gw.admin_api("POST", "/api-keys", json={"name": f"{name}-key", "tenant_id": tenant, "user_id": owner.id})
    assert key.status_code == 201, key.text
    created: dict[str, Any] = key.json()
    return tenant, owner, created


def send_calls(gw: ConsoleGateway, key: str, n: int) -> tuple[Decimal, Decimal]:
    """`n` chat calls with `key`; (their cost in USD, in credits) from the catalog price and the tokens used."""
    client = openai.OpenAI(api_key=key, base_url=gw.url + "/v1", max_retries=0)
    usd = Decimal(0)
    for i in range(n):
        reply = client.chat.completions.create(model="mini", messages=[{"role": "user", "content": f"hello {i}"}])
        usage = reply.usage
        assert usage is not None
        cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
        usd += expected_cost("gpt-4o-mini", usage.prompt_tokens, usage.completion_tokens, cached or 0)
    return usd, usd * 100


def wait_for_ledger(gw: ConsoleGateway, tenant: str, n: int, wait_s: float = 30.0) -> None:
    """Until the ledger's write-behind batches hold the tenant's `n` calls."""
    deadline = time.monotonic() + wait_s
    while True:
        r = httpx.get(
            gw.url + "/api/v1/admin/analytics/overview", params={"tenant": tenant}, headers=MASTER, timeout=30
        )
        assert r.status_code == 200, r.text
        if r.json()["totals"]["requests"] >= n or time.monotonic() > deadline:
            assert r.json()["totals"]["requests"] == n
            return
        time.sleep(0.05)


def csp_violations(page: Any) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


def test_calls_sent_with_a_key_show_in_the_overview_and_its_model_chart(
    page: Any, console_gateway: ConsoleGateway
) -> None:
    gw = console_gateway
    tenant, owner, key = fresh_tenant(gw, "overview")
    usd, credits = send_calls(gw, key["key"], 3)
    wait_for_ledger(gw, tenant, 3)
    violations = csp_violations(page)
    page.on("pageerror", lambda e: violations.append(str(e)))

    sign_in(page, gw, owner.name)  # to /ui/: the landing page is the overview
    assert page.url.startswith(gw.url + "/ui/overview")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-model'))")
    assert page.get_attribute("#figure-requests .figure-value", "data-exact") == "3"
    assert Decimal(page.get_attribute("#figure-credits .figure-value", "data-exact") or "") == credits
    assert Decimal(page.get_attribute("#figure-cost-usd .figure-value", "data-exact") or "") == usd
    assert page.text_content("#figure-error-rate .figure-value") == "0.00 %"
    model_chart = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('chart-model'));"
        " return {labels: c.data.labels, values: c.data.datasets[0].data}; }"
    )
    assert model_chart["labels"] == ["mini"]
    assert model_chart["values"] == [float(credits)]
    over_time = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-requests-over-time')).data.datasets"
        ".map(d => [d.label, d.data.reduce((a, b) => a + b, 0)])"
    )
    assert over_time == [["mini", 3]]
    assert page.evaluate("() => Chart.getChart(document.getElementById('chart-key')).data.labels.length") == 1
    screenshot(page, "overview")

    page.select_option("#range", "24h")  # the chooser submits itself
    page.wait_for_url(re.compile(r".*/ui/overview\?range=24h.*"))
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-model'))")
    assert page.get_attribute("#figure-requests .figure-value", "data-exact") == "3"
    assert "by hour" in (page.text_content("#window") or "")
    screenshot(page, "overview-24h")
    assert violations == []


def chart_json(html: str) -> dict[str, Any]:
    found = DATA.search(html)
    assert found, "no chart data on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_each_user_sees_only_what_its_role_may_read(console_gateway: ConsoleGateway) -> None:
    gw = console_gateway
    tenant, owner, key = fresh_tenant(gw, "overview-scope")
    send_calls(gw, key["key"], 2)
    wait_for_ledger(gw, tenant, 2)
    viewer = gw.add_user("overview-scope-viewer", tenant, "viewer")
    member = gw.add_user("overview-scope-member", tenant, "member")
    for name, requests in ((owner.name, 2), (viewer.name, 2), (member.name, 0)):
        with http_as(gw, name) as c:
            r = c.get("/ui/overview", params={"range": "24h"})
            assert r.status_code == 200, r.text
            assert re.search(r'id="figure-requests".*?data-exact="(\d+)"', r.text, re.S).group(1) == str(requests)  # type: ignore[union-attr]
            keys = chart_json(r.text)["bars"]["key"]["labels"]
            assert keys == (["overview-scope-key"] if requests else []), name  # the key's name, not its id
            assert '<script type="application/json"' in r.text and "<script>" not in r.text
    with http_as(gw, "admin_b") as c:  # another tenant sees none of these calls
        r = c.get("/ui/overview", params={"range": "24h"})
        assert r.status_code == 200
        assert "overview-scope-key" not in chart_json(r.text)["bars"]["key"]["labels"]
        assert tenant not in r.text and key["id"] not in r.text


def test_bad_ranges_are_an_error_page(console_gateway: ConsoleGateway) -> None:
    with http_as(console_gateway, "viewer") as c:
        for params in (
            {"range": "1y"},
            {"start": "2026-13-01", "end": "2026-12-01"},
            {"start": "2026-12-02", "end": "2026-12-01"},
            {"start": "2020-01-01", "end": "2026-01-01"},
        ):
            r = c.get("/ui/overview", params=params)
            assert r.status_code == 400, (params, r.text)
            assert "Traceback" not in r.text and 'class="error"' in r.text
        custom = c.get("/ui/overview", params={"range": "custom", "start": "2026-11-01", "end": "2026-11-30"})
        assert custom.status_code == 200 and "2026-11-01 00:00 – 2026-12-01 00:00 UTC" in custom.text
        assert "by day" in custom.text
