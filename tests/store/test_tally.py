"""`Tally` (the aggregates kept as records come) agrees with `rollup` (the same sums over a batch), and a tally
put back in front of newer records sums as if nothing had happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from oneflow_ai.store.aggregates import GRAINS, Tally, rollup
from oneflow_ai.store.ledger import UsageRecord

START = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)

records = st.lists(
    st.builds(
        lambda i, minutes, key, status, tokens, cost, hit, action, latency: UsageRecord(
            f"r{i}",
            START + timedelta(minutes=minutes),
            "chat",
            "m",
            status,
            200,
            Decimal(cost).scaleb(-9),
            Decimal(cost).scaleb(-7),
            "upstream",
            key_id=key,
            tenant_id="t",
            input_tokens=tokens,
            output_tokens=tokens // 2,
            cache_hit=hit,
            saved_usd=Decimal(cost).scaleb(-8) if hit else Decimal(0),
            guardrail_action=action,
            latency_ms=latency,
        ),
        st.integers(0, 10**6),
        st.integers(0, 60 * 30),  # over a midnight: hourly and daily buckets both split
        st.sampled_from([None, "key_a", "key_b"]),
        st.sampled_from(["ok", "upstream_error"]),
        st.integers(0, 5000),
        st.integers(0, 10**9),
        st.booleans(),
        st.sampled_from([None, "block", "redact", "mask", "warn"]),
        st.one_of(st.none(), st.integers(0, 200_000).map(lambda q: q / 4)),  # quarters: float sums stay exact
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(records)
def test_a_tally_is_the_rollup_of_what_it_was_given(batch: list[UsageRecord]) -> None:
    tally = Tally()
    for r in batch:
        tally.add(r)
    for grain in GRAINS:
        assert tally.rows(grain) == rollup(batch, grain)


@settings(max_examples=40, deadline=None)
@given(records, records)
def test_absorbing_a_failed_batch_sums_like_one_tally(first: list[UsageRecord], later: list[UsageRecord]) -> None:
    failed, newer = Tally(), Tally()
    for r in first:
        failed.add(r)
    for r in later:
        newer.add(r)
    failed.absorb(newer)
    for grain in GRAINS:
        assert failed.rows(grain) == rollup([*first, *later], grain)
