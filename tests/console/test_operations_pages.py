"""The console's operations pages: the request log, budgets and their events, cache stats and clear, provider
health and circuit states, the guardrail test console. Plain HTTP for the role and tenant rules (a viewer reads
and sees no button that would fail, a member its own calls only, another tenant's admin nothing of this one's),
a real headless browser for each page, with a screenshot of each (`requests.png`, `budgets.png`, `cache.png`,
`providers.png`, `guardrails.png`)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy
from sqlalchemy import insert

from oneflow_ai.store.tables import budget_events, usage_records
from tests.console.conftest import (
    MASTER,
    ConsoleGateway,
    csrf_of,
    http_as,
    screenshot,
    sign_in,
    start_console_gateway,
    wait_ready,
)
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import AiohttpServer

CARD = "4111 1111 1111 1111"


def config(upstream_url: str) -> str:
    dep = f"{{provider: openai, model: MODEL, base_url: '{upstream_url}/v1', api_key: env:UPSTREAM_KEY}}"
    return (
        "cache: {mode: exact, ttl_s: 600}\n"
        "models:\n"
        f"  - {{name: mini, deployments: [{dep.replace('MODEL', 'gpt-4o-mini')}]}}\n"
        f"  - {{name: broken, cache: {{mode: off}}, deployments: [{dep.replace('MODEL', 'fake-error-500')}]}}\n"
        "routing: {max_attempts: 1}\n"
    )


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, console_upstream: tuple[OpenAIUpstream, AiohttpServer]
) -> Iterator[ConsoleGateway]:
    """A console gateway of this module's own, with a response cache and a failing model."""
    url = console_upstream[1].url
    gateway, server = start_console_gateway(tmp_path_factory.mktemp("operations"), url, yaml=config(url))
    yield gateway
    server.stop()


@dataclass
class Tenant:
    id: str
    key: dict[str, Any]
    """An API key of the tenant's owner (`id`, `key`)."""


def fresh_tenant(gw: ConsoleGateway, *roles: str) -> Tenant:
    """A tenant no other test writes to, with users named `<role>-<tenant>` (`gw.users`) and an owner's key."""
    r = gw.admin_api("POST", "/tenants", json={"name": f"ops-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.text
    tenant = r.json()["id"]
    for role in ("owner", *roles):
        gw.add_user(f"{role}-{tenant}", tenant, role)
    owner = gw.users[f"owner-{tenant}"]
    key = gw.admin_api("POST", "/api-keys", json={"name": "ops", "tenant_id": tenant, "user_id": owner.id})
    assert key.status_code == 201, key.text
    return Tenant(tenant, key.json())


def chat(gw: ConsoleGateway, key: str, model: str = "mini", text: str = "hello") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body)


def wait_for_calls(gw: ConsoleGateway, tenant: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(gw.url + "/api/v1/admin/requests", params={"tenant": tenant}, headers=MASTER, timeout=30)
        if len(r.json()["data"]) >= n:
            data: list[dict[str, Any]] = r.json()["data"]
            return data
        assert time.monotonic() < deadline, "the ledger did not write the calls"
        time.sleep(0.05)


def db(gw: ConsoleGateway, rows: list[dict[str, Any]], table: Any) -> None:
    """Rows written straight into the gateway's SQLite database (synchronously: Playwright's sync API holds an
    event loop on this thread)."""
    engine = sqlalchemy.create_engine(gw.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(table), rows)
    finally:
        engine.dispose()


def csp_violations(page: Any) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: found.append(str(e)))
    return found


REQUEST_IDS = re.compile(r'data-request-id="([^"]+)"')
BUDGET_IDS = re.compile(r'data-budget-id="([^"]+)"')


# --- plain HTTP: the rules -----------------------------------------------------------------------------------------


def test_a_viewer_reads_every_page_and_sees_no_button_that_would_fail(gw: ConsoleGateway) -> None:
    t = fresh_tenant(gw, "viewer")
    budget = gw.admin_api("POST", "/budgets", json={"scope": "tenant", "scope_id": t.id, "limit_usd": "5"}).json()
    with http_as(gw, f"viewer-{t.id}") as c:
        for path in ("/ui/requests", "/ui/budgets", "/ui/cache", "/ui/providers", "/ui/guardrails"):
            r = c.get(path)
            assert r.status_code == 200, (path, r.text)
            for nav in ("Requests", "Budgets", "Cache", "Providers", "Guardrails"):
                assert f">{nav}</a>" in r.text
        budgets = c.get("/ui/budgets").text
        assert budget["id"] in budgets
        assert "create-budget-form" not in budgets and "delete-budget" not in budgets
        assert "clear-cache-form" not in c.get("/ui/cache").text
        token = csrf_of(budgets)
        made = c.post("/ui/budgets", data={"csrf_token": token, "scope": "tenant", "scope_id": t.id, "limit_usd": "1"})
        assert made.status_code == 403
        assert c.post(f"/ui/budgets/{budget['id']}/delete", data={"csrf_token": token}).status_code == 403
        assert c.post("/ui/cache/clear", data={"csrf_token": token}).status_code == 403
    assert gw.admin_api("GET", f"/budgets/{budget['id']}").status_code == 200  # still there


def test_a_member_sees_its_own_calls_only_and_no_tenant_pages(gw: ConsoleGateway) -> None:
    t = fresh_tenant(gw, "member")
    member = gw.users[f"member-{t.id}"]
    mine = gw.admin_api("POST", "/api-keys", json={"name": "m", "tenant_id": t.id, "user_id": member.id}).json()
    assert chat(gw, mine["key"]).status_code == 200
    assert chat(gw, t.key["key"], text="the owner's").status_code == 200
    calls = wait_for_calls(gw, t.id, 2)
    own = {c["request_id"] for c in calls if c["key_id"] == mine["id"]}
    with http_as(gw, member.name) as c:
        page = c.get("/ui/requests")
        assert page.status_code == 200
        assert set(REQUEST_IDS.findall(page.text)) == own
        assert "Your own calls" in page.text
        for path, nav in (("/ui/budgets", "Budgets"), ("/ui/cache", "Cache"), ("/ui/providers", "Providers")):
            assert c.get(path).status_code == 403
            assert f">{nav}</a>" not in page.text


def test_another_tenants_admin_never_sees_this_tenant(gw: ConsoleGateway) -> None:
    a, b = fresh_tenant(gw), fresh_tenant(gw, "admin")
    assert chat(gw, a.key["key"]).status_code == 200
    a_calls = {c["request_id"] for c in wait_for_calls(gw, a.id, 1)}
    budget = gw.admin_api("POST", "/budgets", json={"scope": "tenant", "scope_id": a.id, "limit_usd": "5"}).json()
    with http_as(gw, f"admin-{b.id}") as c:
        assert not a_calls & set(REQUEST_IDS.findall(c.get("/ui/requests").text))
        assert budget["id"] not in c.get("/ui/budgets").text
        assert c.get("/ui/budgets", params={"events_of": budget["id"]}).status_code == 404
        token = csrf_of(c.get("/ui/budgets").text)
        assert c.post(f"/ui/budgets/{budget['id']}/delete", data={"csrf_token": token}).status_code == 404
        made = c.post("/ui/budgets", data={"csrf_token": token, "scope": "tenant", "scope_id": a.id, "limit_usd": "1"})
        assert made.status_code == 404 and "No such tenant" in made.text
        assert c.post("/ui/budgets", data={"scope": "tenant", "scope_id": b.id, "limit_usd": "1"}).status_code == 403


def test_the_request_log_pages_by_cursor_through_every_call_once(gw: ConsoleGateway) -> None:
    t = fresh_tenant(gw)
    tie = datetime(2031, 3, 1, 9, 30, tzinfo=UTC)
    rows = [
        {
            "request_id": f"req_{t.id}_{i:03d}",
            "created_at": tie - timedelta(minutes=i // 7),  # runs of seven calls in the same instant
            "tenant_id": t.id,
            "endpoint": "chat",
            "requested_model": "mini",
            "cost_usd": Decimal("0.001"),
            "credits": Decimal("0.1"),
            "status": "ok",
            "http_status": 200,
            "usage_source": "provider",
        }
        for i in range(120)
    ]
    db(gw, rows, usage_records)
    seen: list[str] = []
    with http_as(gw, f"owner-{t.id}") as c:
        href: str | None = "/ui/requests?model=mini"
        while href:
            page = c.get(href.replace("&amp;", "&"))
            assert page.status_code == 200, page.text
            seen += REQUEST_IDS.findall(page.text)
            found = re.search(r'<a href="([^"]+)" id="older">', page.text)
            href = found.group(1) if found else None
        assert seen == [r["request_id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["request_id"]))][::-1]
        assert c.get("/ui/requests", params={"cursor": "garbage"}).status_code == 400
        assert c.get("/ui/requests", params={"guardrail": "nonsense"}).status_code == 400


# --- the browser: each page ----------------------------------------------------------------------------------------


def test_request_log_in_the_browser(page: Any, gw: ConsoleGateway) -> None:
    t = fresh_tenant(gw)
    for _ in range(3):
        assert chat(gw, t.key["key"]).status_code == 200
    assert chat(gw, t.key["key"], model="broken").status_code >= 500
    calls = wait_for_calls(gw, t.id, 4)
    violations = csp_violations(page)
    sign_in(page, gw, f"owner-{t.id}", then="/ui/requests")
    assert page.locator("#requests tbody tr").count() == 4
    assert "Prompts and answers are never stored" in page.content()
    screenshot(page, "requests")
    page.select_option("#request-filters select[name=status]", "error")
    page.click("#filter-requests")
    page.wait_for_url(re.compile(r".*status=error.*"))
    rows = page.locator("#requests tbody tr")
    assert rows.count() == 1
    failed = next(c for c in calls if c["status"] != "ok")
    assert rows.first.get_attribute("data-request-id") == failed["request_id"]
    assert "broken" in (rows.first.text_content() or "")
    screenshot(page, "requests-errors")
    assert violations == []


def test_budgets_and_their_events_in_the_browser(page: Any, gw: ConsoleGateway) -> None:
    t = fresh_tenant(gw)
    violations = csp_violations(page)
    sign_in(page, gw, f"owner-{t.id}", then="/ui/budgets")
    page.select_option("#create-budget-form select[name=scope]", "tenant")
    page.fill("#create-budget-form input[name=scope_id]", t.id)
    page.fill("#create-budget-form input[name=limit_usd]", "25.50")
    page.click("#create-budget-button")
    page.wait_for_url(gw.url + "/ui/budgets")
    budget_id = page.locator("#budgets tbody tr[data-budget-id]").first.get_attribute("data-budget-id")
    assert budget_id is not None
    assert "25.5" in (page.locator(f"tr[data-budget-id='{budget_id}']").text_content() or "")
    # a threshold event, as the budgets' writer records it
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    event = {
        "budget_id": budget_id,
        "period_start": start,
        "threshold": Decimal("0.8"),
        "spend_usd": Decimal("20.4"),
        "created_at": datetime.now(UTC),
    }
    db(gw, [event], budget_events)
    page.reload()
    events = page.locator("#budget-events tbody tr")
    assert events.count() == 1 and "80 %" in (events.first.text_content() or "")
    assert "20.4" in (events.first.text_content() or "")
    screenshot(page, "budgets")
    # another scope of another tenant: refused with the reason, the form kept
    page.select_option("#create-budget-form select[name=scope]", "key")
    page.fill("#create-budget-form input[name=scope_id]", "key_not_mine")
    page.fill("#create-budget-form input[name=limit_usd]", "1")
    page.click("#create-budget-button")
    assert "No such key" in (page.text_content("#budget-error") or "")
    page.goto(gw.url + "/ui/budgets")
    wait_ready(page)
    page.locator(f"tr[data-budget-id='{budget_id}'] button.delete-budget").click()  # confirmation accepted
    page.wait_for_url(gw.url + "/ui/budgets")
    assert page.locator(f"tr[data-budget-id='{budget_id}']").count() == 0
    assert violations == []


def test_cache_stats_and_clear_in_the_browser(page: Any, gw: ConsoleGateway) -> None:
    t = fresh_tenant(gw, "admin")
    text = f"cache me {uuid.uuid4().hex}"
    first, second = chat(gw, t.key["key"], text=text), chat(gw, t.key["key"], text=text)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("x-oneflow-cache", "").startswith("hit")
    violations = csp_violations(page)
    sign_in(page, gw, f"admin-{t.id}", then="/ui/cache")
    assert page.text_content("#cache-store") == "memory"
    assert page.text_content("#stat-entries") == "1" and page.text_content("#stat-hits") == "1"
    screenshot(page, "cache")
    page.click("#clear-cache-button")  # confirmation accepted
    page.wait_for_selector("#cleared")
    assert "Cleared 1 entry" in (page.text_content("#cleared") or "")
    assert page.text_content("#stat-entries") == "0"
    screenshot(page, "cache-cleared")
    assert chat(gw, t.key["key"], text=text).headers.get("x-oneflow-cache", "").startswith("miss")
    audit = gw.admin_api("GET", "/audit", params={"action": "cache.clear"}).json()["data"]
    assert any(e["tenant_id"] == t.id and e["detail"]["deleted"] == 1 for e in audit)
    assert violations == []


def test_provider_health_and_circuits_in_the_browser(page: Any, gw: ConsoleGateway) -> None:
    t = fresh_tenant(gw, "viewer")
    assert chat(gw, t.key["key"], model="broken").status_code >= 500
    violations = csp_violations(page)
    sign_in(page, gw, f"viewer-{t.id}", then="/ui/providers")
    rows = {(row.locator("td").nth(0).text_content() or ""): row for row in page.locator("#deployments tbody tr").all()}
    assert {"mini", "broken"} <= set(rows)
    window = re.search(r"(\d+) / (\d+)", rows["broken"].locator("td").nth(5).text_content() or "")
    assert window is not None and int(window.group(2)) >= 1  # the failed call, in the breaker's window
    assert rows["mini"].locator(".state").text_content() in ("closed", "open", "half-open")
    screenshot(page, "providers")
    assert violations == []


def test_guardrail_test_console_in_the_browser(page: Any, gw: ConsoleGateway) -> None:
    t = fresh_tenant(gw, "viewer")
    violations = csp_violations(page)
    sign_in(page, gw, f"viewer-{t.id}", then="/ui/guardrails")
    page.fill("#guardrail-text", f"My card is {CARD}, thanks.")
    page.select_option("#guardrail-policy", "pci_dss")
    page.click("#guardrail-test-button")
    page.wait_for_selector("#guardrail-result")
    assert page.text_content("#guardrail-action") == "redact"
    assert "CREDIT_CARD" in (page.text_content("#guardrail-findings") or "")
    output = page.text_content("#guardrail-output") or ""
    assert CARD not in output and "thanks." in output
    assert page.input_value("#guardrail-text") == f"My card is {CARD}, thanks."  # the form keeps the text
    screenshot(page, "guardrails")
    assert violations == []
