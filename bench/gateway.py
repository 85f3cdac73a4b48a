"""The gateways under test: OneFlow (`oneflow serve`) and, optionally, LiteLLM's proxy, both pinned to one core."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.modes import MASTER_KEY, Mode
from bench.procs import Server, start_server
from bench.upstream import Upstream

UPSTREAM_KEY = "sk-upstream-bench"
CHAT_MODEL = "bench-model"
STREAM_MODEL = "bench-stream"
EMBED_MODEL = "bench-embedding"
# Upstream model names the price catalog knows, so every request is priced as in production.
UPSTREAM_CHAT, UPSTREAM_EMBED = "gpt-4o-mini", "text-embedding-3-small"


@dataclass(frozen=True)
class Gateway:
    name: str
    server: Server
    base_url: str  # up to and including /v1
    command: list[str]


def oneflow_config(upstream: Upstream, mode: Mode) -> dict[str, Any]:
    def deployment(base_url: str, model: str) -> dict[str, Any]:
        return {
            "provider": "openai_compatible",
            "model": model,
            "base_url": base_url,
            "api_key": "env:BENCH_UPSTREAM_KEY",
        }

    return {
        **mode.config,
        "models": [
            {"name": CHAT_MODEL, "deployments": [deployment(upstream.base_url, UPSTREAM_CHAT)]},
            {"name": STREAM_MODEL, "deployments": [deployment(upstream.stream_base_url, UPSTREAM_CHAT)]},
            {
                "name": EMBED_MODEL,
                "mode": "embedding",
                "deployments": [deployment(upstream.base_url, UPSTREAM_EMBED)],
            },
        ],
    }


def oneflow_binary() -> Path:
    """`oneflow` from the interpreter's own environment (the repo's .venv when run as documented)."""
    path = Path(sys.executable).parent / "oneflow"
    if not path.exists():
        found = shutil.which("oneflow")
        if found is None:
            raise RuntimeError("the `oneflow` command is not installed; run `make test` or `pip install -e .` first")
        path = Path(found)
    return path


def start_oneflow(
    work: Path,
    upstream: Upstream,
    mode: Mode,
    *,
    port: int,
    cpu: str | None,
    binary: Path | None = None,
    workers: int = 1,
) -> Gateway:
    """`binary`: another version's `oneflow` command (`bench.run --baseline`), named `oneflow <mode> (baseline)`.
    `workers`: `oneflow serve --workers N` (named `oneflow <mode> (N workers)`)."""
    tag = mode.name + ("-baseline" if binary is not None else "") + (f"-{workers}w" if workers != 1 else "")
    config = work / f"oneflow-{tag}.yaml"
    config.write_text(yaml.safe_dump(oneflow_config(upstream, mode), sort_keys=False))
    data_dir = work / f"data-{tag}"
    env = {
        **os.environ,
        "ONEFLOW_MASTER_KEY": MASTER_KEY,
        "ONEFLOW_DATA_DIR": str(data_dir),
        "BENCH_UPSTREAM_KEY": UPSTREAM_KEY,
        **mode.env,
    }
    env.pop("ONEFLOW_CONFIG", None)
    command = [str(binary or oneflow_binary()), "serve", "--config", str(config), "--port", str(port)]
    if workers != 1:
        command += ["--workers", str(workers)]
    pinned = ["taskset", "-c", cpu, *command] if cpu is not None else command
    # A baseline runs outside the checkout: a `python -m oneflow_ai` it starts must not import this version's package
    where = work if binary is not None else None
    log = work / f"oneflow-{tag}.log"
    ready = f"http://127.0.0.1:{port}/health"
    limit = 30.0 * workers  # workers start side by side on the same cores
    server = start_server(f"oneflow ({tag})", pinned, ready, log=log, env=env, cwd=where, timeout=limit)
    name = f"oneflow {mode.name}" + (" (baseline)" if binary is not None else "")
    name += f" ({workers} workers)" if workers != 1 else ""
    return Gateway(name, server, f"http://127.0.0.1:{port}/v1", pinned)


def litellm_binary() -> str | None:
    """LiteLLM's proxy command, if installed ($BENCH_LITELLM, the interpreter's environment, or PATH)."""
    candidates = [
        os.environ.get("BENCH_LITELLM"),
        str(Path(sys.executable).parent / "litellm"),
        shutil.which("litellm"),
    ]
    return next((c for c in candidates if c and Path(c).exists()), None)


def start_litellm(work: Path, upstream: Upstream, *, port: int, cpu: str | None) -> Gateway:
    binary = litellm_binary()
    if binary is None:
        raise RuntimeError("litellm is not installed")

    def entry(name: str, base_url: str, model: str) -> dict[str, Any]:
        params = {"model": f"openai/{model}", "api_base": base_url, "api_key": "os.environ/BENCH_UPSTREAM_KEY"}
        return {"model_name": name, "litellm_params": params}

    config = {
        "model_list": [
            entry(CHAT_MODEL, upstream.base_url, UPSTREAM_CHAT),
            entry(STREAM_MODEL, upstream.stream_base_url, UPSTREAM_CHAT),
            entry(EMBED_MODEL, upstream.base_url, UPSTREAM_EMBED),
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {"telemetry": False},
    }
    path = work / "litellm.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "BENCH_UPSTREAM_KEY": UPSTREAM_KEY, "LITELLM_LOG": "ERROR"}
    command = [binary, "--config", str(path), "--port", str(port), "--num_workers", "1"]
    pinned = ["taskset", "-c", cpu, *command] if cpu is not None else command
    server = start_server(
        "litellm",
        pinned,
        f"http://127.0.0.1:{port}/health/liveliness",
        log=work / "litellm.log",
        env=env,
        timeout=120,
    )
    return Gateway("litellm", server, f"http://127.0.0.1:{port}/v1", pinned)
