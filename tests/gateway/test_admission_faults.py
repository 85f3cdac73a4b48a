"""Issue 14 #6: a call whose admission fails in an unexpected way (not a refusal) still has its ledger row."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx

from oneflow_ai.app import create_app
from oneflow_ai.gateway.call import Call
from oneflow_ai.gateway.stages import Stages
from oneflow_ai.settings import Settings
from tests.api.ledger_rows import ledger_rows
from tests.billing.conftest import config
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.runner import UvicornServer

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


class Faulty:
    """An admission with a bug: it raises something that is not a `GatewayError`."""

    def admit(self, call: Call) -> Awaitable[None]:
        raise RuntimeError("an admission's own fault")


def test_a_fault_in_an_admission_is_a_500_with_its_ledger_row(
    openai_upstream: Any, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        config_path=str(tmp_path / "config.yaml"),
        data_dir=tmp_path / "data",
        master_key=MASTER_KEY,
        database_url=database_url,
        ledger_interval_s=0.05,
    )
    (tmp_path / "config.yaml").write_text(config(openai_upstream[1].url))
    stages = Stages(admissions=(Faulty(),))
    server = UvicornServer(lambda: create_app(settings, {"UPSTREAM_KEY": UPSTREAM_KEY}, stages=stages))
    try:
        r = httpx.post(
            server.url + "/v1/chat/completions",
            headers=AUTH,
            json={"model": "mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        [row] = ledger_rows(database_url, [r.headers["x-request-id"]])
        assert (row["status"], row["http_status"], row["attempts"]) == ("rejected", 500, 0)
    finally:
        server.stop()
