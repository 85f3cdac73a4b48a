"""The billing HTTP API over real HTTP: budgets admin, usage reports from the aggregates, estimates."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from oneflow_ai.billing.usage import UsageQuery, grain_for
from oneflow_ai.store.aggregates import DAILY, HOURLY, day_of
from tests.billing.conftest import config, expected_cost, ledger_for
from tests.conftest import MASTER_KEY
from tests.fakes import openai_upstream as fake

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
ONE_CALL = expected_cost("gpt-4o-mini", fake.PROMPT_TOKENS, fake.COMPLETION_TOKENS, 3)


@pytest.fixture
def gw(start_gateway: Any, openai_upstream: Any, database_url: str, tag: str) -> tuple[str, str]:
    budgets = f"budgets:\n  - {{scope: end_user, id: {tag}, period: monthly, limit_usd: '1.5', thresholds: [0.5]}}\n"
    server = start_gateway(config_yaml=config(openai_upstream[1].url, budgets), database_url=database_url)
    return server.url, database_url


def chat(url: str, model: str, user: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers=AUTH,
        timeout=10,
        json={"model": model, "user": user, "messages": [{"role": "user", "content": "hi"}]},
    )


def test_usage_totals_and_groups(gw: tuple[str, str], tag: str) -> None:
    url, db = gw
    statuses = [chat(url, m, tag).status_code for m in ("mini", "mini", "broken")]
    assert statuses == [200, 200, 502]
    ledger_for(db, tag, expect=3)
    r = httpx.get(url + "/api/v1/usage", headers=AUTH, params={"end_user": tag, "group_by": "model,day"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["totals"]["requests"] == 3 and body["totals"]["errors"] == 1
    assert Decimal(body["totals"]["cost_usd"]) == 2 * ONE_CALL
    assert Decimal(body["totals"]["cost_inr"]) == 2 * ONE_CALL * 83
    assert Decimal(body["totals"]["credits"]) == 2 * ONE_CALL * 100
    by_model = {g["model"]: g for g in body["groups"]}
    assert set(by_model) == {"mini", "broken"}
    assert by_model["mini"]["requests"] == 2 and by_model["mini"]["input_tokens"] == 2 * fake.PROMPT_TOKENS
    assert by_model["broken"]["cost_usd"] == "0" and len(by_model["mini"]["day"]) == 10
    hourly = httpx.get(
        url + "/api/v1/usage", headers=AUTH, params=[("end_user", tag), ("group_by", "hour"), ("group_by", "provider")]
    ).json()
    assert all(g["hour"].endswith(":00:00Z") for g in hourly["groups"])
    assert {g["provider"] for g in hourly["groups"]} == {"openai"}
    future = httpx.get(url + "/api/v1/usage", headers=AUTH, params={"end_user": tag, "start": "2999-01-01T00:00:00Z"})
    assert future.json() == {
        "totals": {
            "requests": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cached_tokens": 0,
            "errors": 0,
            "cache_hits": 0,
            "guardrail_blocked": 0,
            "guardrail_redacted": 0,
            "cost_usd": "0",
            "credits": "0",
            "saved_usd": "0",
            "cost_inr": "0",
        },
        "groups": [],
    }


def test_usage_answers_alike_from_the_daily_and_the_hourly_buckets(gw: tuple[str, str], tag: str) -> None:
    """Whole UTC days are read from `usage_daily`; the same buckets with ragged ends from `usage_hourly`."""
    url, db = gw
    assert [chat(url, m, tag).status_code for m in ("mini", "mini", "broken")] == [200, 200, 502]
    rows = ledger_for(db, tag, expect=3)
    first = min(day_of(r["created_at"]) for r in rows)
    end = max(day_of(r["created_at"]) for r in rows) + timedelta(days=1)
    # start's hour is the first bucket counted, buckets before end are: the same hours as [first, end)
    ranges = {"aligned": (first, end), "ragged": (first + timedelta(minutes=30), end - timedelta(minutes=30))}
    for group_by in ((), ("day",), ("model",), ("day", "provider")):
        answers = {}
        for name, (start, stop) in ranges.items():
            grain = grain_for(UsageQuery({"end_user": tag}, start, stop, group_by))
            assert grain is (DAILY if name == "aligned" else HOURLY)
            params = {
                "end_user": tag,
                "start": start.isoformat(),
                "end": stop.isoformat(),
                "group_by": ",".join(group_by),
            }
            r = httpx.get(url + "/api/v1/usage", headers=AUTH, params=params)
            assert r.status_code == 200, r.text
            answers[name] = r.json()
        assert answers["aligned"] == answers["ragged"], group_by
        assert answers["aligned"]["totals"]["requests"] == 3
        assert Decimal(answers["aligned"]["totals"]["cost_usd"]) == 2 * ONE_CALL


def test_usage_refuses_bad_input_and_non_admins(gw: tuple[str, str]) -> None:
    url, _ = gw
    assert (
        httpx.get(url + "/api/v1/usage", params={"group_by": "color"}, headers=AUTH).json()["error"]["param"]
        == "group_by"
    )
    assert httpx.get(url + "/api/v1/usage", params={"start": "yesterday"}, headers=AUTH).status_code == 400
    assert httpx.get(url + "/api/v1/usage").status_code == 401


def test_budget_admin_lifecycle(gw: tuple[str, str], tag: str) -> None:
    url, _ = gw
    api = url + "/api/v1/admin/budgets"
    created = httpx.post(
        api, headers=AUTH, json={"scope": "key", "scope_id": tag, "period": "daily", "limit_usd": "2.50"}
    )
    assert created.status_code == 201, created.text
    b = created.json()
    assert (b["limit_usd"], b["spent_usd"], b["remaining_usd"], b["source"]) == ("2.5", "0", "2.5", "api")
    assert b["thresholds"] == ["0.5", "0.8", "1"] and b["period_start"].endswith("T00:00:00+00:00")
    patched = httpx.patch(f"{api}/{b['id']}", headers=AUTH, json={"limit_usd": "3", "thresholds": [0.9]}).json()
    assert (patched["limit_usd"], patched["thresholds"]) == ("3", ["0.9"])
    listed = httpx.get(api, headers=AUTH, params={"scope": "key", "scope_id": tag}).json()["data"]
    assert [x["id"] for x in listed] == [b["id"]]
    assert httpx.get(f"{api}/{b['id']}", headers=AUTH).json()["limit_usd"] == "3"
    assert httpx.delete(f"{api}/{b['id']}", headers=AUTH).json()["deleted"] is True
    assert httpx.get(f"{api}/{b['id']}", headers=AUTH).status_code == 404
    bad = httpx.post(api, headers=AUTH, json={"scope": "galaxy", "scope_id": "x", "limit_usd": "1"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "scope"


def test_config_budget_shows_spend_and_is_read_only(gw: tuple[str, str], tag: str) -> None:
    url, db = gw
    assert chat(url, "mini", tag).status_code == 200
    ledger_for(db, tag, expect=1)
    [b] = httpx.get(url + "/api/v1/admin/budgets", headers=AUTH, params={"scope": "end_user", "scope_id": tag}).json()[
        "data"
    ]
    assert b["source"] == "config" and Decimal(b["spent_usd"]) == ONE_CALL
    assert Decimal(b["remaining_usd"]) == Decimal("1.5") - ONE_CALL
    assert httpx.delete(url + f"/api/v1/admin/budgets/{b['id']}", headers=AUTH).status_code == 403


def test_estimate(gw: tuple[str, str]) -> None:
    url, _ = gw
    r = httpx.post(
        url + "/api/v1/estimate", headers=AUTH, json={"model": "mini", "input_tokens": 1000, "output_tokens": 500}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    cost = expected_cost("gpt-4o-mini", 1000, 500)
    assert (body["model"], body["priced_as"]) == ("mini", "gpt-4o-mini")
    assert (Decimal(body["cost_usd"]), Decimal(body["credits"]), Decimal(body["cost_inr"])) == (
        cost,
        cost * 100,
        cost * 83,
    )
    by_catalog = httpx.post(url + "/api/v1/estimate", headers=AUTH, json={"model": "gpt-4o", "input_tokens": 10})
    assert Decimal(by_catalog.json()["cost_usd"]) == expected_cost("gpt-4o", 10, 0)
    routed = httpx.post(url + "/api/v1/estimate", headers=AUTH, json={"input_tokens": 10})  # no model: routing's
    assert routed.status_code == 200 and "primary_model" in routed.json()
    unknown = httpx.post(url + "/api/v1/estimate", headers=AUTH, json={"model": "nope", "input_tokens": 1})
    assert unknown.status_code == 404
