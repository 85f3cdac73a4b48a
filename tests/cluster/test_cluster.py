"""Issue 20, must-have 1: three `oneflow serve` replicas behind nginx, sharing PostgreSQL and Redis, behave as one
gateway under concurrent load (JSON answers and streams mixed): one rate limit and one budget across the three, a
revocation and a breaker seen by all, a replica killed mid-load losing no call another could serve and no ledger
record, a replica stopped with SIGTERM finishing and recording what it had in flight.

Run alone with `pytest -m cluster`. Its figures are printed in the terminal summary ("cluster figures").
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import BUDGET_USD, ESTIMATE, MASTER, ONE_CALL, Cluster, bearer
from tests.cluster.load import Call, Loop, perform, run
from tests.cluster.replicas import Replica

pytestmark = pytest.mark.cluster

RPM = 60
RATE_CALLS, BUDGET_CALLS_SENT = 150, 48


def answered_by(call: Call, replica: Replica) -> bool:
    """The replica that answered (the last one nginx tried)."""
    return call.served_by.split(",")[-1].strip() == replica.address


def describe(calls: list[Call]) -> list[tuple[str, int, str, str, str]]:
    return [(c.marker, c.status, c.code or "", c.served_by, c.error) for c in calls]


def test_one_rate_limit_and_one_budget_hold_across_the_three(cluster: Cluster, figures: dict[str, Any]) -> None:
    cluster.revive()
    url = cluster.balancer.url
    key = cluster.new_key(cluster.replicas[0], rpm_limit=RPM, rph_limit=1_000_000, tpm_limit=100_000_000)
    limited = [Call(cluster.marker("rate", n), cluster.model("plain"), n % 3 == 0, url=url) for n in range(RATE_CALLS)]
    budgeted = [
        Call(cluster.marker("budget", n), cluster.model("budgeted"), n % 3 == 0, url=url)
        for n in range(BUDGET_CALLS_SENT)
    ]

    async def load() -> dict[str, list[dict[str, Any]]]:
        await asyncio.gather(run(limited, bearer(key["key"]), clients=12), run(budgeted, MASTER, clients=12))
        return await cluster.settled_ledger("budget", {c.marker for c in budgeted})

    rows = asyncio.run(load())

    # One rate limit: a token bucket of RPM requests refilled at RPM/60 a second, charged in Redis on every call
    # (a limit under 1,000 is never admitted on a replica's view): the burst gets RPM plus what refilled during it.
    accepted = [c for c in limited if c.ok]
    refused = [c for c in limited if not c.ok]
    elapsed = max(c.ended for c in limited) - min(c.started for c in limited)
    refill = RPM * elapsed / 60
    assert all((c.status, c.code) == (429, "rate_limit_exceeded") for c in refused), describe(refused)[:5]
    figures["rate limit"] = (
        f"{RATE_CALLS} calls ({RATE_CALLS // 3} streamed) in {elapsed:.2f}s, limit {RPM}/min + {refill:.1f} refilled:"
        f" {len(accepted)} accepted, {len(refused)} refused, overshoot {len(accepted) - RPM - refill:+.1f}"
    )
    assert RPM - 1 <= len(accepted) <= RPM + math.ceil(refill)
    for r in cluster.replicas:  # each replica refused some: they all counted on the one bucket
        assert any(answered_by(c, r) for c in refused), f"{r.name} refused nothing"
        assert any(answered_by(c, r) for c in accepted), f"{r.name} served nothing"

    # One budget: passed by at most one call (the one holding its rest), by at most that call's cost.
    served = [c for c in budgeted if c.ok]
    out = [c for c in budgeted if not c.ok]
    assert all((c.status, c.code) == (429, "insufficient_quota") for c in out), describe(out)[:5]
    assert {c.marker for c in budgeted} <= rows.keys(), "budget calls without a ledger record"
    spent = sum((row["cost_usd"] for rs in rows.values() for row in rs if row["status"] == "ok"), Decimal(0))
    figures["budget"] = (
        f"{BUDGET_CALLS_SENT} calls, limit ${BUDGET_USD} ({BUDGET_USD / ONE_CALL:.0f} calls): {len(served)} served,"
        f" {len(out)} refused, spent ${spent}, overshoot ${spent - BUDGET_USD} ({(spent - BUDGET_USD) / ONE_CALL:+.2f}"
        " calls)"
    )
    assert spent == len(served) * ONE_CALL
    assert spent <= BUDGET_USD + ONE_CALL
    # and it is used, not refused early (a call in flight holds its estimate, more than it costs, until it settles)
    assert len(served) >= BUDGET_USD // max(ESTIMATE, ONE_CALL)
    for r in cluster.replicas:
        assert any(answered_by(c, r) for c in out), f"{r.name} refused no budget call"

    # and every replica reports the same spend (Redis counts nano-dollars), once the settlements are written
    deadline = time.monotonic() + 30
    while True:
        views = [budget_spent(r, cluster.model("budgeted")) for r in cluster.replicas]
        if all(abs(v - spent) < Decimal("1e-8") for v in views) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert all(abs(v - spent) < Decimal("1e-8") for v in views), (views, spent)


def budget_spent(replica: Replica, model: str) -> Decimal:
    r = httpx.get(
        replica.url + "/api/v1/admin/budgets", headers=MASTER, params={"scope": "model", "scope_id": model}, timeout=30
    )
    assert r.status_code == 200, r.text
    [budget] = r.json()["data"]
    return Decimal(budget["spent_usd"])


REVOCATION_BOUND_S = 1.0
"""README: a revoked key "stops working on every replica within a second" (pub/sub: milliseconds)."""


def test_a_key_revoked_on_one_replica_is_refused_by_all_within_a_second(
    cluster: Cluster, figures: dict[str, Any]
) -> None:
    cluster.revive()
    key = cluster.new_key(cluster.replicas[0], rpm_limit=1_000_000, rph_limit=1_000_000, tpm_limit=100_000_000)
    url = cluster.balancer.url

    def make(n: int) -> Call:
        return Call(cluster.marker("revoke", n), cluster.model("plain"), n % 3 == 0, url=url)

    async def probe_until_refused(client: httpx.AsyncClient, replica: Replica, since: float) -> float:
        """Calls straight to `replica` until one is refused; how long after `since` that refusal came."""
        deadline = time.monotonic() + 30
        n = 0
        while time.monotonic() < deadline:
            n += 1
            call = Call(cluster.marker(f"revoke-{replica.name}", n), cluster.model("plain"), url=replica.url)
            done = await perform(client, call, bearer(key["key"]))
            probes.append(done)
            if done.status == 401:
                return done.ended - since
            await asyncio.sleep(0.01)
        raise AssertionError(f"{replica.name} still takes the revoked key 30 s after its revocation")

    probes: list[Call] = []

    async def scenario() -> tuple[list[Call], float, list[float]]:
        loop = Loop(make, bearer(key["key"]), clients=9).start()
        deadline = time.monotonic() + 60
        while not all(sum(c.ok and answered_by(c, r) for c in loop.calls) >= 3 for r in cluster.replicas):
            assert time.monotonic() < deadline, "the replicas did not all serve the key"
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.delete(f"{cluster.replicas[0].url}/api/v1/admin/api-keys/{key['id']}", headers=MASTER)
            revoked = time.monotonic()
            assert r.status_code == 200, r.text
            delays = await asyncio.gather(*(probe_until_refused(client, rep, revoked) for rep in cluster.replicas))
        # the load goes on until each replica refused the key and twice the bound has passed
        while not (
            time.monotonic() > revoked + 2 * REVOCATION_BOUND_S
            and all(any(c.status == 401 and answered_by(c, rep) for c in loop.calls) for rep in cluster.replicas)
        ):
            assert time.monotonic() < deadline, "the load did not see every replica refuse the key"
            await asyncio.sleep(0.01)
        return await loop.stop(), revoked, list(delays)

    calls, revoked, delays = asyncio.run(scenario())
    everything = calls + probes
    late = [c for c in everything if c.ok and c.started > revoked + REVOCATION_BOUND_S]
    last_ok = max((c.started - revoked for c in everything if c.ok), default=0.0)
    figures["revocation"] = (
        f"{len(calls)} calls through nginx ({sum(c.ok for c in calls)} served before it), {len(probes)} probes;"
        f" the first call sent to each replica after it was refused, answered within"
        f" {', '.join(f'{d * 1000:.0f}' for d in delays)} ms of the revocation;"
        f" the last call served was sent {last_ok * 1000:+.0f} ms after it"
    )
    assert not late, f"served more than {REVOCATION_BOUND_S}s after the revocation: {describe(late)[:5]}"
    after = [c for c in everything if c.started > revoked + REVOCATION_BOUND_S]
    assert after and all((c.status, c.code) == (401, "invalid_api_key") for c in after), describe(after)[:5]
    errors = [c for c in calls if not c.ok and c.status != 401]
    assert not errors, describe(errors)[:5]


def test_a_breaker_opened_by_failures_on_one_replica_is_open_on_all(cluster: Cluster, figures: dict[str, Any]) -> None:
    cluster.revive()
    a, others = cluster.replicas[0], cluster.replicas[1:]
    sick = f"{cluster.model('flaky')}/0"
    assert [cluster.breaker(r, sick)["state"] for r in cluster.replicas] == ["closed"] * 3
    upstream = cluster.upstream

    def make(n: int) -> Call:
        return Call(cluster.marker("breaker", n), cluster.model("flaky"), n % 3 == 0, url=a.url)

    async def open_on_a() -> list[Call]:
        loop = Loop(make, MASTER, clients=6).start()
        deadline = time.monotonic() + 60
        while (entry := await asyncio.to_thread(cluster.breaker, a, sick))["state"] != "open":
            assert time.monotonic() < deadline, f"A's breaker never opened: {entry}"
            await asyncio.sleep(0.02)
        return await loop.stop()

    upstream.failing.add("sick")
    try:
        on_a = asyncio.run(open_on_a())
        opened = time.monotonic()
        failures_seen = upstream.failed["sick"]
        seen_after: list[float] = []
        for r in others:  # B and C never called the sick deployment, yet they hear it is open
            while (state := cluster.breaker(r, sick)["state"]) != "open":
                assert time.monotonic() < opened + 30, f"{r.name} still sees the breaker {state} after 30 s"
                time.sleep(0.01)
            seen_after.append(time.monotonic() - opened)
        url = cluster.balancer.url
        after = [
            Call(cluster.marker("breaker-after", n), cluster.model("flaky"), n % 3 == 0, url=url) for n in range(45)
        ]
        asyncio.run(run(after, MASTER, clients=9))
    finally:
        upstream.failing.discard("sick")

    failed_on_a = [c for c in on_a if not c.ok]
    figures["breaker"] = (
        f"opened on {a.name} by {failures_seen} failed upstream calls ({len(on_a)} client calls, {len(failed_on_a)}"
        f" failed); seen open by the others within {', '.join(f'{s * 1000:.0f}' for s in seen_after)} ms;"
        f" {len(after)} calls through nginx after it: {sum(c.ok for c in after)} served, sick deployment called"
        f" {upstream.failed['sick'] - failures_seen} times"
    )
    assert not failed_on_a, describe(failed_on_a)[:5]  # each failure was retried on the healthy deployment
    assert all(c.ok for c in after), describe([c for c in after if not c.ok])[:5]
    assert upstream.failed["sick"] == failures_seen  # no replica sent anything more to the open deployment
    for r in cluster.replicas:
        assert any(answered_by(c, r) for c in after), f"{r.name} served nothing"


KILL_CALLS, KILL_CLIENTS = 480, 24
SLOW = ({"fake_chunks": 8, "fake_interval_s": 0.05}, {"fake_delay_s": 0.2}, {})
"""The kill test's calls: a stream lasting 0.4 s upstream, a JSON answer 0.2 s in coming, a quick JSON answer; so
that some of each kind are in flight on the victim when it dies."""
STALL_S = 0.25
"""The victim is stopped (SIGSTOP) this long before it is killed, as a replica stalled before it dies: the calls nginx
sends it meanwhile are written to it and never read, so that every run has calls in flight on it that never reached
the upstream (a kill alone catches 0 or 1 such call), which nginx must pass on to a survivor that serves them."""


def by_request(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {m: sorted(rs, key=lambda r: str(r["request_id"])) for m, rs in rows.items()}


def is_refusal(row: dict[str, Any]) -> bool:
    """A survivor's record of a call it refused (`attempt_elsewhere`): nginx passed it on after the victim had
    begun it at the provider. It records the refusal, not the upstream call (which has its own record, or none if
    the victim was killed between its claim and its journal entry)."""
    return (row["status"], row["http_status"]) == ("rejected", 502)


def test_a_replica_killed_mid_load_loses_no_call_another_could_serve_and_no_record(
    cluster: Cluster, figures: dict[str, Any]
) -> None:
    cluster.revive()
    victim = cluster.replicas[2]
    url = cluster.balancer.url
    calls = [
        Call(cluster.marker("kill", n), cluster.model("plain"), n % 3 == 0, extra=SLOW[n % 3], url=url)
        for n in range(KILL_CALLS)
    ]
    stopped_at: list[float] = []
    killed_at: list[float] = []

    def end_victim() -> None:
        victim.kill()
        killed_at.append(time.monotonic())

    def maybe_kill(done: Call) -> None:
        # mid-load: once the victim has served a sixth of its share, stop it, then SIGKILL it (nothing of it runs
        # after)
        if not stopped_at and sum(c.ok and answered_by(c, victim) for c in calls) >= KILL_CALLS // 18:
            victim.pause()
            stopped_at.append(time.monotonic())
            asyncio.get_running_loop().call_later(STALL_S, end_victim)

    def refused_elsewhere(c: Call) -> bool:
        return (c.status, c.code) == (502, "attempt_elsewhere")

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        await run(calls, MASTER, clients=KILL_CLIENTS, on_done=maybe_kill)
        assert killed_at, "the victim was not killed"
        # The victim stays dead: a survivor takes its journal over (they share the host's journal directory).
        reached = {c.marker for c in calls if c.ok or cluster.upstream.arrived[c.marker]}
        refused = {c.marker for c in calls if refused_elsewhere(c)}
        deadline = time.monotonic() + 30
        while True:  # each call that reached the upstream has its record, each refusal its own
            rows = await cluster.ledger("kill")
            if time.monotonic() > deadline or (
                all(any(not is_refusal(r) for r in rows.get(m, [])) for m in reached)
                and all(any(is_refusal(r) for r in rows.get(m, [])) for m in refused)
            ):
                return rows
            await asyncio.sleep(0.1)

    rows = asyncio.run(scenario())
    settled = time.monotonic()
    cluster.revive()  # then it starts again on its data directory: nothing is recorded twice
    again = asyncio.run(cluster.ledger("kill"))
    kill = killed_at[0]
    log = {line.call_id: line for line in cluster.balancer.log()}
    ok = [c for c in calls if c.ok]
    failed = [c for c in calls if not c.ok]
    refused = [c for c in failed if refused_elsewhere(c)]
    arrived = {c.marker for c in calls if cluster.upstream.arrived[c.marker]}
    served = {c.marker for c in calls if cluster.upstream.served[c.marker]}
    records = {m: [r for r in rs if not is_refusal(r)] for m, rs in rows.items()}
    refusals = {m: [r for r in rs if is_refusal(r)] for m, rs in rows.items()}
    lost = sorted(c.marker for c in ok if c.marker not in rows)
    unrecorded = sorted(m for m in arrived if not records.get(m))
    twice = {
        m: [r["status"] for r in rs]
        for m, rs in again.items()
        if sum(not is_refusal(r) for r in rs) > 1 or sum(is_refusal(r) for r in rs) > 1
    }
    statuses = Counter(r["status"] for rs in rows.values() for r in rs)
    unreached = [c for c in failed if c.marker not in arrived]
    passed_on = [c for c in calls if c.marker in log and len(log[c.marker].replicas) > 1]
    rescued = [c for c in passed_on if c.ok and c.started < kill and log[c.marker].replicas[0] == victim.address]
    figures["SIGKILL"] = (
        f"{KILL_CALLS} calls ({KILL_CALLS // 3} streamed, {KILL_CLIENTS} clients), {victim.name} stopped for"
        f" {kill - stopped_at[0]:.2f}s then killed after"
        f" {sum(c.ended <= kill for c in calls)} had ended: {len(ok)} served, {len(failed)} failed (in flight on the"
        f" killed replica: {len(refused)} refused attempt_elsewhere by a survivor,"
        f" {sum(c.status == 200 for c in failed)} cut off, {sum(c.status != 200 for c in failed) - len(refused)} other;"
        f" {len(unreached)} of them before reaching the upstream); passed on by nginx to another replica"
        f" {len(passed_on)} ({sum(c.ok for c in passed_on)} served there, {len(rescued)} of them in flight on the"
        f" victim, {sum(c.started < stopped_at[0] for c in rescued)} sent before it stopped); upstream:"
        f" {len(arrived)} reached it ({sum(cluster.upstream.arrived[c.marker] > 1 for c in calls)} twice),"
        f" {len(served)} served to their last byte; ledger: {sum(len(rs) for rs in rows.values())} rows"
        f" ({dict(statuses)}) {settled - kill:.1f}s after the kill; answered 200 but not recorded {len(lost)},"
        f" reached the upstream but not recorded {len(unrecorded)}, recorded twice {len(twice)}"
    )
    # A call fails for its client only when it was in flight on the killed replica, which had begun it at the
    # provider: sent to it before the kill, and either cut (its answer had begun) or passed on by nginx to a survivor
    # that refused it (`attempt_elsewhere`: the victim had claimed it). A call the victim had not begun at the
    # provider was passed on and served; every call sent after the kill was served.
    for c in failed:
        assert c.started < kill, f"failed though sent after the kill: {describe([c])}"
        assert c.marker in log and log[c.marker].replicas[0] == victim.address, (describe([c]), log.get(c.marker))
        # Reached the upstream; or refused, the victim having claimed it just before it was killed, the request on
        # its way to the upstream (the claim must come first: the survivor cannot tell the two apart).
        assert c.marker in arrived or refused_elsewhere(c), (describe([c]), log.get(c.marker))
    assert len(failed) <= KILL_CLIENTS
    # and the calls in flight on it that it had not begun at the provider were passed on and served (the stall
    # before the kill makes sure there are some)
    assert rescued, "no call in flight on the victim was passed on and served"
    # Every call whose client got its whole answer has its ledger record, as served; every call that reached the
    # upstream has exactly one (one cut off by the kill is `interrupted`); none is recorded twice, even after the
    # victim's restart; a call that never reached the upstream was not recorded as served. A survivor's refusal
    # has a record of its own (a refusal, as every refused call has), never one of a call it did not refuse.
    assert not lost, f"{len(lost)} calls answered 200 have no ledger record: {lost[:10]}"
    assert not unrecorded, f"{len(unrecorded)} calls reached the upstream and have no record: {unrecorded[:10]}"
    assert not twice, f"recorded more than once: {twice}"
    assert by_request(again) == by_request(rows)
    assert all([r["status"] for r in rows[c.marker]] == ["ok"] for c in ok)
    assert {m for m, rs in refusals.items() if rs} == {c.marker for c in refused}
    assert all(r["status"] != "ok" for m, rs in rows.items() if m not in arrived for r in rs)
    # No call reached the upstream twice: nginx passes a call on, but the survivor does not call the provider for
    # one the victim had claimed.
    assert all(cluster.upstream.arrived[c.marker] <= 1 for c in calls)


DRAINED_STREAMS = 6


def test_sigterm_drains_calls_in_flight_and_records_them_before_exiting(
    cluster: Cluster, figures: dict[str, Any]
) -> None:
    victim = cluster.replicas[1]
    # The victim restarts writing nothing behind while it runs (a batch a minute): what it records, it records on its
    # way out. (The others are started again meanwhile when an earlier test left one dead.)
    if victim.alive:
        victim.terminate()
        assert victim.served is not None and victim.served.process.wait(60) in (0, -15), victim.output()[-2000:]
    victim.launch(ONEFLOW_LEDGER_INTERVAL_S="60")
    cluster.revive()
    victim.wait_up()
    slow = {"fake_chunks": 60, "fake_interval_s": 0.05}  # 3 s each: all six still running when the last arrives
    streams = [
        Call(cluster.marker("drain", n), cluster.model("plain"), True, extra=slow, url=victim.url)
        for n in range(DRAINED_STREAMS)
    ]
    url = cluster.balancer.url

    def make(n: int) -> Call:
        return Call(cluster.marker("drain-load", n), cluster.model("plain"), n % 3 == 0, url=url)

    async def scenario() -> tuple[float, float, int, list[Call]]:
        loop = Loop(make, MASTER, clients=6).start()
        draining = asyncio.ensure_future(run(streams, MASTER, clients=DRAINED_STREAMS))
        deadline = time.monotonic() + 60
        while not all(cluster.upstream.arrived[c.marker] for c in streams):
            assert time.monotonic() < deadline, "the slow streams did not reach the upstream"
            await asyncio.sleep(0.01)
        victim.terminate()
        terminated = time.monotonic()
        await draining
        assert victim.served is not None
        code = await asyncio.to_thread(victim.served.process.wait, 60)
        exited = time.monotonic()
        return terminated, exited, code, await loop.stop()

    terminated, exited, code, background = asyncio.run(scenario())
    rows = asyncio.run(cluster.ledger("drain"))  # read at once: written before the process exited
    log = {line.call_id: line for line in cluster.balancer.log()}
    failed = [c for c in background if not c.ok]
    figures["SIGTERM"] = (
        f"{DRAINED_STREAMS} slow streams in flight on {victim.name} at SIGTERM: {sum(c.ok for c in streams)} finished"
        f" with [DONE], {sum(len(rows.get(c.marker, [])) for c in streams)} recorded; exited {code} after"
        f" {exited - terminated:.1f}s; {len(background)} calls through nginx meanwhile, {len(failed)} failed"
    )
    assert code in (0, -15), victim.output()[-2000:]
    assert all(c.ok and c.ended > terminated for c in streams), describe(streams)
    for c in streams:
        assert [(r["status"], r["http_status"], r["streamed"]) for r in rows.get(c.marker, [])] == [("ok", 200, True)]
    # calls sent through nginx meanwhile were served by the others; one written to the stopping replica just as it
    # closed its socket is passed on by nginx (it was never begun there, so never claimed) and served
    for c in failed:
        assert c.marker in log and log[c.marker].replicas[-1] == victim.address, (describe([c]), log.get(c.marker))
