"""`worker_metrics`: the merge of a worker's live metrics with the other workers' snapshots, and its files."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric

from oneflow_ai.observability.metrics import GAUGE_MODES, Metrics
from oneflow_ai.observability.worker_metrics import Snapshot, decode, encode, merge
from tests.observability.conftest import samples


def worker(calls: int, seconds: float, depth: float, writable: float) -> list[Metric]:
    """One worker's families, as its registry collects them."""
    r = CollectorRegistry(auto_describe=False)
    requests = Counter("http_requests", "Requests.", ("route",), registry=r)
    duration = Histogram("duration_seconds", "Seconds.", buckets=(0.1, 1.0), registry=r)
    Gauge("ledger_queue_depth", "Depth.", registry=r).set(depth)
    Gauge("ledger_writable", "Writable.", registry=r).set(writable)
    for _ in range(calls):
        requests.labels("/chat").inc()
        duration.observe(seconds)
    return list(r.collect())


MODES = GAUGE_MODES


def exposition(families: list[Metric]) -> dict[str, float]:
    class Merged(CollectorRegistry):
        def collect(self) -> Iterator[Metric]:
            return iter(families)

    return samples(generate_latest(Merged()).decode())


def test_counters_and_histograms_are_summed_and_live_gauges_combined_per_gauge() -> None:
    merged = exposition(merge(worker(3, 0.05, 2, 1), [Snapshot(worker(2, 0.5, 5, 0))], MODES))
    assert merged['http_requests_total{route="/chat"}'] == 5
    assert merged['duration_seconds_bucket{le="0.1"}'] == 3
    assert merged['duration_seconds_bucket{le="1.0"}'] == 5
    assert merged["duration_seconds_count{}"] == 5
    assert merged["duration_seconds_sum{}"] == pytest.approx(3 * 0.05 + 2 * 0.5)
    assert merged["ledger_queue_depth{}"] == 7  # sum
    assert merged["ledger_writable{}"] == 0  # min: one worker cannot write


def test_a_worker_that_exited_keeps_its_counts_and_loses_its_gauges() -> None:
    merged = exposition(merge(worker(1, 0.05, 2, 1), [Snapshot(worker(4, 0.05, 9, 0), alive=False)], MODES))
    assert merged['http_requests_total{route="/chat"}'] == 5
    assert merged["duration_seconds_count{}"] == 5
    assert merged["ledger_queue_depth{}"] == 2
    assert merged["ledger_writable{}"] == 1


def test_a_series_only_another_worker_has_is_shown_and_created_is_the_earliest() -> None:
    first, second = worker(2, 0.05, 0, 1), worker(1, 0.05, 0, 1)
    r = CollectorRegistry(auto_describe=False)
    Counter("http_requests", "Requests.", ("route",), registry=r).labels("/models").inc()
    exposed = exposition(merge(r.collect(), [Snapshot(second), Snapshot(first)], MODES))
    assert exposed['http_requests_total{route="/models"}'] == 1
    assert exposed['http_requests_total{route="/chat"}'] == 3
    created = [s.value for f in (*first, *second) for s in f.samples if s.name == "http_requests_created"]
    assert exposed['http_requests_created{route="/chat"}'] == min(created)  # never a sum


def test_a_snapshot_reads_back_as_written() -> None:
    families = worker(2, 0.5, 3, 1)
    families[0].add_sample("http_requests_total", {"route": "/nan"}, math.nan)
    back = decode(encode(families, alive=False))
    assert back.alive is False
    assert [(f.name, f.type, f.documentation) for f in back.families] == [
        (f.name, f.type, f.documentation) for f in families
    ]
    assert [s[:3] for f in back.families for s in f.samples][:-1] == [s[:3] for f in families for s in f.samples][:-1]
    assert math.isnan(back.families[0].samples[-1].value)


def test_a_scrape_merges_the_other_workers_files_and_not_its_own(tmp_path: Path) -> None:
    a, b = Metrics(["dep"], worker_dir=tmp_path), Metrics(["dep"], worker_dir=tmp_path)
    assert a.shared is not None and b.shared is not None
    b.shared.pid = os.getppid()  # two workers of one server in one test process: b as a running process
    a.rate_limited.inc(2)
    b.rate_limited.inc(3)
    a.ledger_depth.set(4)
    b.ledger_depth.set(5)
    a.shared.write()
    b.shared.write()
    scraped = samples(generate_latest(a.shared).decode())
    assert scraped["rate_limit_exceeded_total{}"] == 5  # a's live value once, b's snapshot once
    assert scraped["ledger_queue_depth{}"] == 9
    a.rate_limited.inc()
    assert samples(generate_latest(a.shared).decode())["rate_limit_exceeded_total{}"] == 6  # its own: live
    assert samples(generate_latest(b.shared).decode())["rate_limit_exceeded_total{}"] == 5  # a's: as written
    b.shared.write(alive=False)
    scraped = samples(generate_latest(a.shared).decode())
    assert (scraped["rate_limit_exceeded_total{}"], scraped["ledger_queue_depth{}"]) == (6, 4)


def test_a_worker_whose_process_is_gone_counts_as_exited(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    a, b = Metrics(worker_dir=tmp_path), Metrics(worker_dir=tmp_path)
    assert a.shared is not None and b.shared is not None
    b.shared.pid = int(gone.stdout)
    b.rate_limited.inc()
    b.ledger_depth.set(7)
    b.shared.write()  # alive, as a worker killed before its last snapshot left it
    (tmp_path / "notes.json").write_text("{}")  # not a worker's: ignored
    scraped = samples(generate_latest(a.shared).decode())
    assert (scraped["rate_limit_exceeded_total{}"], scraped["ledger_queue_depth{}"]) == (1, 0)


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed (apt-get install prometheus)")
def test_the_merged_exposition_passes_promtool(tmp_path: Path) -> None:
    a, b = Metrics(["dep"], worker_dir=tmp_path), Metrics(["dep"], worker_dir=tmp_path)
    assert a.shared is not None and b.shared is not None
    b.shared.pid = os.getppid()
    a.http_duration.labels("POST", "/v1/chat/completions").observe(0.2)
    b.http_duration.labels("GET", "/v1/models").observe(0.01)
    b.shared.write()
    check = subprocess.run(["promtool", "check", "metrics"], input=a.render()[0], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
