"""Smoke test of `bench.console` with a few thousand rows (no timing asserted): it seeds the ledger and its
aggregates, starts the gateway, signs in, checks that the overview counts the seeded records for each range, and
prints a line per range and way of loading."""

from __future__ import annotations

import pytest

from bench import console


def test_a_small_run_loads_every_range_and_checks_its_count(capsys: pytest.CaptureFixture[str]) -> None:
    console.main(["--rows", "3000", "--end-users", "50", "--runs", "1", "--no-browser"])
    out = capsys.readouterr().out
    assert "sqlite: 3,000 ledger rows" in out
    for span in console.LOADS:
        assert f"{span:6} http: HTML + assets" in out, out
    assert "sqlite: first page (7d), http: HTML + assets: p50" in out
