"""Fixtures for observability and edge tests: `oneflow serve` as a real subprocess, and scrape helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MASTER_KEY
from tests.fakes.subprocess_gateway import Served, SubprocessGateways

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def upstream_config(upstream_url: str) -> str:
    dep = f"provider: openai_compatible\n        base_url: {upstream_url}/v1\n        api_key: env:UPSTREAM_KEY"
    return f"""
models:
  - name: mini
    deployments:
      - {dep}
        model: gpt-4o-mini
  - name: broken
    deployments:
      - {dep}
        model: fake-error-500
  - name: cut
    deployments:
      - {dep}
        model: fake-cut-stream
  - name: embed
    mode: embedding
    deployments:
      - {dep}
        model: text-embedding-3-small
"""


def samples(text: str) -> dict[str, float]:
    """`name{label="v",...}` -> value, for every sample of a Prometheus exposition."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def total(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    result = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                result += s.value
    return result


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """`serve(workers=2, env={...}, config_yaml=...)`: the real CLI on a free port, with a temp data dir."""
    gateways = SubprocessGateways(tmp_path)
    yield gateways.start
    gateways.stop_all()


def chat(url: str, model: str, text: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={**AUTH, **(headers or {})},
        timeout=30,
        json={"model": model, "messages": [{"role": "user", "content": text}], **body},
    )
