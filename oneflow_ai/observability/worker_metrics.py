"""The metrics of `oneflow serve --workers N`: each worker counts in process, and shares snapshots for scrapes.

Each worker keeps its metrics in its own registry, as a single process does (an increment is an in-memory add,
not a write to a shared memory-mapped file), and writes a snapshot of that registry's samples to a file of
its own in a directory of the server's (`<pid>.json`, replaced atomically) every `SNAPSHOT_INTERVAL_S` and
once more as it exits. A scrape, answered by any worker, merges that worker's live values with the others'
latest snapshots (`merge`): the other workers' figures are at most one interval old.

Counters and histograms are summed; a worker that exited keeps its last counts, so a total never goes back
(prometheus-client's `mark_process_dead`). Gauges mirror live state: those of a worker that exited are
dropped, the live ones combined as `gauge_modes` says per gauge (`sum`, `min` or `max`; `sum` if unnamed).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

SNAPSHOT_INTERVAL_S = 1.0
GaugeMode = Literal["sum", "min", "max"]
_COMBINE: dict[str, Callable[[list[float]], float]] = {"sum": sum, "min": min, "max": max}
SampleKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One worker's samples as it last wrote them; `alive` is false once it has exited."""

    families: list[Metric]
    alive: bool = True


def merge(own: Iterable[Metric], others: Iterable[Snapshot], gauge_modes: Mapping[str, GaugeMode]) -> list[Metric]:
    """This worker's live families merged with the other workers' snapshots (see the module's doc)."""
    kinds: dict[str, Metric] = {}
    values: dict[str, dict[SampleKey, list[float]]] = {}
    for families, alive in ((own, True), *((s.families, s.alive) for s in others)):
        for family in families:
            if family.type == "gauge" and not alive:
                continue
            kinds.setdefault(family.name, family)
            table = values.setdefault(family.name, {})
            for s in family.samples:
                table.setdefault((s.name, tuple(sorted(s.labels.items()))), []).append(s.value)
    merged = []
    for name, table in values.items():
        kind = kinds[name]
        out = Metric(name, kind.documentation, kind.type, kind.unit)
        combine = _COMBINE[gauge_modes.get(name, "sum")] if kind.type == "gauge" else sum
        for (sample, labels), found in table.items():
            # a series' creation time is its first worker's (as one process would have it), never a sum
            out.add_sample(sample, dict(labels), min(found) if sample.endswith("_created") else combine(found))
        merged.append(out)
    return merged


def encode(families: Iterable[Metric], *, alive: bool = True) -> bytes:
    rows = [
        [f.name, f.type, f.documentation, f.unit, [[s.name, s.labels, s.value] for s in f.samples]] for f in families
    ]
    return orjson.dumps({"alive": alive, "families": rows})


def decode(data: bytes) -> Snapshot:
    raw: dict[str, Any] = orjson.loads(data)
    families = []
    for name, kind, documentation, unit, samples in raw["families"]:
        family = Metric(name, documentation, kind, unit)
        for sample, labels, value in samples:
            family.add_sample(sample, labels, math.nan if value is None else value)  # JSON has no NaN: null
        families.append(family)
    return Snapshot(families, alive=bool(raw["alive"]))


class WorkerMetrics(Collector):
    """One worker's side: writes its registry's snapshot, and collects the merged view for a scrape."""

    def __init__(self, registry: CollectorRegistry, directory: Path, gauge_modes: Mapping[str, GaugeMode]) -> None:
        self.registry = registry
        self.directory = directory
        self.gauge_modes = gauge_modes
        self.pid = os.getpid()

    def write(self, *, alive: bool = True) -> None:
        """Replace this worker's snapshot file (a reader sees the old file or the new one, never a part)."""
        path = self.directory / f"{self.pid}.json"
        partial = path.with_suffix(".tmp")
        partial.write_bytes(encode(self.registry.collect(), alive=alive))
        os.replace(partial, path)

    def others(self) -> list[Snapshot]:
        """The other workers' latest snapshots; one whose process is gone counts as exited."""
        found = []
        for path in self.directory.glob("*.json"):
            with contextlib.suppress(FileNotFoundError, ValueError):  # removed meanwhile; or not a worker's
                pid = int(path.stem)
                if pid == self.pid:
                    continue
                snapshot = decode(path.read_bytes())
                found.append(snapshot if not snapshot.alive or running(pid) else Snapshot(snapshot.families, False))
        return found

    def collect(self) -> list[Metric]:
        return merge(self.registry.collect(), self.others(), self.gauge_modes)


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
