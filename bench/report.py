"""The results: one markdown table, the machine it ran on, and the `docs/performance.md` section."""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bench.openloop import OpenLoopResult
from bench.relay import BRIEF_RELAY_RPS, scaled
from bench.stream import TtfbResult
from bench.upstream import nginx_version
from bench.wrk import WrkResult, wrk_version

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass
class TargetRun:
    """Everything measured against one target: direct-to-nginx, or a gateway."""

    name: str
    saturation: WrkResult
    one_connection: WrkResult
    rates: dict[int, OpenLoopResult]
    ttfb: TtfbResult
    stream: WrkResult
    embeddings: WrkResult
    rss_kib: dict[str, int] = field(default_factory=dict)  # "rest", "loaded", "soak"
    soak: OpenLoopResult | None = None

    @property
    def errors(self) -> int:
        runs = [self.saturation, self.one_connection, self.stream, self.embeddings]
        open_loop = [*self.rates.values(), *([self.soak] if self.soak else [])]
        return sum(r.errors for r in runs) + sum(r.errors for r in open_loop) + self.ttfb.errors


def cpu_busy(seconds: float = 1.0) -> float:
    """The share of all CPUs (0-1) busy over `seconds`, from /proc/stat: other work makes the numbers noisy."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def python_speed(iterations: int = 2_000_000) -> float:
    """Nanoseconds per iteration of a plain Python loop, best of three: how fast this machine runs Python, to
    compare runs across machines (VMs of one kind differ, and a busy host slows them all)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(iterations):
            total += i
        best = min(best, time.perf_counter() - started)
    return best / iterations * 1e9


STALL_PROBE_S = 3.0


def core_stalls(cpu: int = 0, seconds: float = STALL_PROBE_S) -> tuple[int, float]:
    """How often, and how long at most, a 1 ms sleep on `cpu` overslept by more than 2 ms while the machine was
    otherwise idle: the stalls of the VM itself (these VMs lose their core for 5-20 ms a few times a second),
    which set a floor under any p99 at a fixed rate."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        count, worst = 0, 0.0
        end = time.perf_counter() + seconds
        while (started := time.perf_counter()) < end:
            time.sleep(0.001)
            late = time.perf_counter() - started - 0.001
            if late > 0.002:
                count += 1
                worst = max(worst, late)
        return count, worst * 1000
    finally:
        os.sched_setaffinity(0, before)


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "-"

    stalls, worst = core_stalls()
    return {
        "busy": f"{cpu_busy():.0%}",
        "python_ns": f"{python_speed():.0f}",
        "stalls": f"{stalls} times in {STALL_PROBE_S:.0f} s, the longest {worst:.1f} ms",
        "cpus": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "oneflow-ai": version("oneflow-ai"),
        "uvicorn": version("uvicorn"),
        "uvloop": version("uvloop"),
        "httptools": version("httptools"),
        "orjson": version("orjson"),
        "nginx": nginx_version(),
        "wrk": wrk_version(),
    }


def _ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def _pair(p50: int, p99: int, base: tuple[int, int] | None) -> str:
    cell = f"{_ms(p50)} / {_ms(p99)}"
    if base is not None:
        cell += f" (+{_ms(p50 - base[0])} / +{_ms(p99 - base[1])})"
    return cell


def table(direct: TargetRun, gateways: list[TargetRun], frames: int) -> str:
    """Rows are measurements, columns are targets; a gateway's latency cell adds (+ added over direct)."""
    targets = [direct, *gateways]
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, cell: Callable[[TargetRun], str]) -> None:
        rows.append((label, [cell(t) for t in targets]))

    def base(t: TargetRun, p50: int, p99: int) -> tuple[int, int] | None:
        return None if t is direct else (p50, p99)

    add("chat, 64 connections: req/s", lambda t: f"{t.saturation.rps:,.0f}")
    add("chat, 64 connections: p50 / p99 ms", lambda t: f"{_ms(t.saturation.p50_us)} / {_ms(t.saturation.p99_us)}")
    d1 = direct.one_connection
    add(
        "chat, 1 connection: p50 / p99 ms (added)",
        lambda t: _pair(t.one_connection.p50_us, t.one_connection.p99_us, base(t, d1.p50_us, d1.p99_us)),
    )

    def at_rate(rate: int) -> Callable[[TargetRun], str]:
        d = direct.rates[rate]

        def cell(t: TargetRun) -> str:
            r = t.rates[rate]
            if r.errors >= r.sent:  # no answer to time
                return f"all {r.sent:,} failed"
            return _pair(r.p50_us, r.p99_us, base(t, d.p50_us, d.p99_us))

        return cell

    for rate in direct.rates:
        add(f"chat at {rate} req/s: p50 / p99 ms (added)", at_rate(rate))
    dt = direct.ttfb
    add(
        "stream, time to first byte: p50 / p99 ms (added)",
        lambda t: _pair(t.ttfb.ttfb_p50_us, t.ttfb.ttfb_p99_us, base(t, dt.ttfb_p50_us, dt.ttfb_p99_us)),
    )
    add("stream, 64 connections: responses/s", lambda t: f"{t.stream.rps:,.0f}")
    add(f"stream, 64 connections: chunks/s ({frames} per response)", lambda t: f"{t.stream.rps * frames:,.0f}")
    add("embeddings, 64 connections: req/s", lambda t: f"{t.embeddings.rps:,.0f}")
    add(
        "worker RSS MiB: at rest / after load / after soak",
        lambda t: " / ".join(f"{t.rss_kib[k] / 1024:.0f}" for k in ("rest", "loaded", "soak") if k in t.rss_kib) or "-",
    )
    add("soak: requests, errors", lambda t: f"{t.soak.sent:,}, {t.soak.errors}" if t.soak else "-")
    add(
        "soak: p50 / p99 / max ms",
        lambda t: f"{_ms(t.soak.p50_us)} / {_ms(t.soak.p99_us)} / {_ms(t.soak.max_us)}" if t.soak else "-",
    )
    add("errors, all runs", lambda t: str(t.errors))

    head = "| measurement | " + " | ".join(t.name for t in targets) + " |"
    rule = "|---|" + "---:|" * len(targets)
    return "\n".join([head, rule, *(f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows)])


MiB, MB = 1024 * 1024, 1_000_000


def targets(direct: TargetRun, gateways: list[TargetRun], relay_rps: float = 0.0) -> list[str]:
    """Issue 7's targets, each checked against this run's numbers (full modes; LiteLLM for the ratio). With the
    minimal relay's req/s from the same run, each line also says what the throughput would be on the brief's
    machine (`relay.scaled`); the verdict stays on the number measured here."""
    litellm = next((g for g in gateways if g.name == "litellm"), None)
    out: list[str] = []
    for g in gateways:
        if not g.name.startswith("oneflow full"):
            continue
        checks = [
            (g.saturation.rps >= 3000, f"{g.saturation.rps:,.0f} req/s at 64 connections (>= 3,000)"),
            (
                g.one_connection.p50_us - direct.one_connection.p50_us <= 500,
                f"+{_ms(g.one_connection.p50_us - direct.one_connection.p50_us)} ms p50 at 1 connection (<= 0.5)",
            ),
        ]
        if 1000 in g.rates:
            r = g.rates[1000]
            checks.append(
                (r.errors == 0 and r.p99_us <= 8000, f"{_ms(r.p99_us)} ms p99, {r.errors} errors at 1000 req/s")
            )
        added_ttfb = g.ttfb.ttfb_p50_us - direct.ttfb.ttfb_p50_us
        checks.append((added_ttfb <= 1000, f"+{_ms(added_ttfb)} ms time to first byte p50 (<= 1)"))
        peak = max(g.rss_kib.values(), default=0) * 1024
        checks.append((peak <= 150 * MB, f"{peak / MiB:.0f} MiB = {peak / MB:.0f} MB peak RSS (<= 150 MB)"))
        if "soak" in g.rss_kib and "loaded" in g.rss_kib:
            growth = g.rss_kib["soak"] / g.rss_kib["loaded"] - 1
            checks.append((growth < 0.10, f"{growth:+.1%} RSS over the soak (< 10%)"))
        if litellm is not None and litellm.saturation.rps > 0:
            ratio = g.saturation.rps / litellm.saturation.rps
            checks.append((ratio >= 10, f"{ratio:.0f}x LiteLLM's req/s (>= 10x)"))
        line = f"{g.name}: " + "; ".join(("holds: " if ok else "MISSED: ") + text for ok, text in checks)
        if relay_rps > 0:
            line += (
                f" (throughput {g.saturation.rps / relay_rps:.2f}x the minimal relay's {relay_rps:,.0f} req/s in this"
                f" run: {scaled(g.saturation.rps, relay_rps):,.0f} req/s where that relay does {BRIEF_RELAY_RPS:,})"
            )
        out.append(line)
    return out


def section(
    results_table: str, info: dict[str, str], command: str, notes: list[str], verdicts: list[str] | None = None
) -> str:
    machine_line = f"{info['cpus']} × {info['cpu']}, Linux {info['kernel']}"
    machine_line += f"; CPUs busy with other work just before the run: {info['busy']}"
    if "python_ns" in info:
        machine_line += f"; a plain Python loop (`bench/report.py: python_speed`) took {info['python_ns']} ns/iteration"
    if "relay_rps" in info:
        machine_line += (
            f"; the brief's minimal relay (uvicorn + aiohttp, `bench/relay.py`) did {int(info['relay_rps']):,} req/s"
            f" here (~{BRIEF_RELAY_RPS:,} on the brief's machine)"
        )
    if "stalls" in info:
        machine_line += (
            f"; idle, a 1 ms sleep on the gateway's core overslept by more than 2 ms {info['stalls']}"
            " (`core_stalls`: the VM's own pauses)"
        )
    versions = ", ".join(
        f"{k} {info[k]}"
        for k in ("python", "oneflow-ai", "uvicorn", "uvloop", "httptools", "orjson", "nginx", "wrk")
        if k in info
    )
    parts = [
        START,
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine_line}. Versions: {versions}.",
        "",
        results_table,
        "",
        *(f"- {n}" for n in notes),
        "",
        *(
            ["Targets (issue 7), checked against the numbers above:", "", *(f"- {v}" for v in verdicts), ""]
            if verdicts
            else []
        ),
        END,
    ]
    return "\n".join(parts)


def write_docs(path: Path, new_section: str, markers: tuple[str, str] = (START, END)) -> None:
    """Replace the section of `path` between `markers` (`new_section` starts and ends with them), or append it (or
    create the file around it)."""
    if path.exists():
        text = path.read_text()
        pattern = re.compile(re.escape(markers[0]) + ".*?" + re.escape(markers[1]), re.S)
        text = (
            pattern.sub(lambda _: new_section, text) if pattern.search(text) else text.rstrip() + "\n\n" + new_section
        )
    else:
        text = (
            "# Performance\n\n"
            "Measured by the repository's own benchmark (`bench/`, see `bench/README.md`): a fake OpenAI upstream\n"
            "(nginx serving canned responses) behind the gateway, the gateway pinned to one core, the load\n"
            "generators and nginx on the other. The section below is regenerated by `--write-docs`.\n\n" + new_section
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n")
