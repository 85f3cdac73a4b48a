"""End to end: the openai SDK over real HTTP, through the gateway, to the fake OpenAI upstream. A sticky experiment
from the config splits `chat` between two upstream models by end user; an experiment made through the admin API
applies from the next call; each ledger record names its experiment and variant; feedback is posted with the
call's request id and shows in the results."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import openai
from sqlalchemy import select

from oneflow_ai.store.tables import usage_records
from tests.billing.conftest import run_db
from tests.conftest import MASTER_KEY, GatewayFactory
from tests.identity.conftest import MASTER, Client, identity_env

USERS = [f"user-{i}" for i in range(16)]


def config(url: str) -> str:
    dep = f"provider: openai, base_url: '{url}/v1', api_key: env:UPSTREAM_KEY"
    return (
        "models:\n"
        f"  - {{name: chat, deployments: [{{{dep}, model: gpt-4o-mini}}]}}\n"
        f"  - {{name: big, deployments: [{{{dep}, model: gpt-4o}}]}}\n"
        f"  - {{name: other, deployments: [{{{dep}, model: gpt-4.1-nano}}]}}\n"
        "experiments:\n"
        "  - name: mini-vs-4o\n"
        "    model: chat\n"
        "    sticky: true\n"
        "    variants: [{name: control, model: chat, weight: 1}, {name: bigger, model: big, weight: 1}]\n"
    )


def rows_of(database_url: str, ids: list[str], expect: int, wait_s: float = 30) -> dict[str, dict[str, Any]]:
    """The ledger rows of these request ids, once all of them are written (polled, with a deadline)."""

    async def fetch(conn: Any) -> dict[str, dict[str, Any]]:
        result = await conn.execute(select(usage_records).where(usage_records.c.request_id.in_(ids)))
        return {r.request_id: dict(r._mapping) for r in result}

    deadline = time.monotonic() + wait_s
    while True:
        rows: dict[str, dict[str, Any]] = run_db(database_url, fetch)
        if len(rows) >= expect or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def request_id(headers: Any) -> str:
    return str(headers.get("x-oneflow-request-id") or headers["x-request-id"])


def test_calls_are_split_sticky_per_user_and_recorded_with_their_variant(
    start_gateway: GatewayFactory, openai_upstream: Any, tmp_path: Any
) -> None:
    _, upstream = openai_upstream
    database_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    gw = start_gateway(config(upstream.url), database_url=database_url, env=identity_env())
    sdk = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    sent: dict[str, tuple[str, str]] = {}  # request id -> (user, model the gateway says served it)
    for round_ in range(2):
        for user in USERS:
            raw = sdk.chat.completions.with_raw_response.create(
                model="chat", messages=[{"role": "user", "content": f"hi {round_}"}], user=user
            )
            sent[request_id(raw.headers)] = (user, raw.headers["x-oneflow-model"])
            assert raw.parse().choices[0].message.content
    rows = rows_of(database_url, list(sent), len(sent))
    assert len(rows) == len(sent)
    by_user: dict[str, set[str | None]] = {}
    for rid, (user, served) in sent.items():
        row = rows[rid]
        assert (row["experiment"], row["requested_model"], row["end_user"]) == ("mini-vs-4o", "chat", user)
        assert row["served_model"] == served == {"control": "gpt-4o-mini", "bigger": "gpt-4o"}[row["variant"]]
        by_user.setdefault(user, set()).add(row["variant"])
    assert all(len(v) == 1 for v in by_user.values())  # sticky: each user always in the same variant
    assert set.union(*by_user.values()) == {"control", "bigger"}  # 16 users hashed: both variants get some

    # a model no experiment splits is recorded without one
    raw = sdk.chat.completions.with_raw_response.create(model="other", messages=[{"role": "user", "content": "x"}])
    other = request_id(raw.headers)
    assert rows_of(database_url, [other], 1)[other]["experiment"] is None

    # feedback by request id, then the results: every call, per variant, with the score
    first = next(iter(sent))
    r = httpx.post(
        gw.url + "/api/v1/feedback", headers=MASTER, json={"request_id": first, "score": 1, "comment": "great"}
    )
    assert r.status_code == 200, r.text
    c = Client(gw.url)
    results = {v["variant"]: v for v in c.get("/experiments/mini-vs-4o/results", MASTER).json()["variants"]}
    assert {k: v["requests"] for k, v in results.items()} == {
        k: 2 * n for k, n in Counter(next(iter(v)) for v in by_user.values()).items()
    }
    assert sum(v["feedback"] for v in results.values()) == 1
    assert results[rows[first]["variant"]]["score_mean"] == 1.0
    assert all(v["errors"] == 0 and v["latency_ms_p95"] is not None for v in results.values())


def test_an_experiment_made_through_the_api_applies_to_the_next_call(
    start_gateway: GatewayFactory, openai_upstream: Any, tmp_path: Any
) -> None:
    _, upstream = openai_upstream
    database_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    gw = start_gateway(config(upstream.url), database_url=database_url, env=identity_env())
    c = Client(gw.url)
    made = c.post(
        "/experiments",
        MASTER,
        json={
            "name": "all-to-nano",
            "model": "big",
            "variants": [{"name": "old", "model": "big", "weight": 0}, {"name": "nano", "model": "other"}],
        },
    )
    assert made.status_code == 201, made.text
    sdk = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(model="big", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-oneflow-model"] == "gpt-4.1-nano"
    rid = request_id(raw.headers)
    row = rows_of(database_url, [rid], 1)[rid]
    assert (row["experiment"], row["variant"], row["requested_model"]) == (made.json()["id"], "nano", "big")
    assert c.post(f"/experiments/{made.json()['id']}/end", MASTER).status_code == 200
    raw = sdk.chat.completions.with_raw_response.create(model="big", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-oneflow-model"] == "gpt-4o"  # ended: the model serves its own calls again


def test_another_replica_applies_an_experiment_within_its_refresh(
    start_gateway: GatewayFactory, openai_upstream: Any, tmp_path: Any
) -> None:
    _, upstream = openai_upstream
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    one = start_gateway(config(upstream.url), database_url=database_url, env=identity_env(), guardrails_refresh_s=0.2)
    two = start_gateway(config(upstream.url), database_url=database_url, env=identity_env(), guardrails_refresh_s=0.2)
    made = Client(one.url).post(
        "/experiments",
        MASTER,
        json={
            "name": "to-nano",
            "model": "big",
            "variants": [{"name": "old", "model": "big", "weight": 0}, {"name": "nano", "model": "other"}],
        },
    )
    assert made.status_code == 201, made.text
    sdk = openai.OpenAI(api_key=MASTER_KEY, base_url=two.url + "/v1", max_retries=0)
    deadline = time.monotonic() + 30
    while True:  # the other replica reloads every 0.2 s
        raw = sdk.chat.completions.with_raw_response.create(model="big", messages=[{"role": "user", "content": "x"}])
        if raw.headers["x-oneflow-model"] == "gpt-4.1-nano" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert raw.headers["x-oneflow-model"] == "gpt-4.1-nano"
    assert Client(one.url).post(f"/experiments/{made.json()['id']}/end", MASTER).status_code == 200
    deadline = time.monotonic() + 30
    while True:
        raw = sdk.chat.completions.with_raw_response.create(model="big", messages=[{"role": "user", "content": "x"}])
        if raw.headers["x-oneflow-model"] == "gpt-4o" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert raw.headers["x-oneflow-model"] == "gpt-4o"
