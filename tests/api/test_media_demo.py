"""The demo's media models through the real app over HTTP (no provider key): `demo-image` and `demo-speech` answer,
free, recorded with their units; a key's rate limit and model access hold for media calls as for chat."""

from __future__ import annotations

import base64
import io
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY


def test_demo_media_and_a_keys_limits(start_gateway: Any, tmp_path: Any) -> None:
    from PIL import Image

    db = f"sqlite:///{tmp_path / 'demo.db'}"
    gw = start_gateway(database_url=db)
    master = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    raw = master.images.with_raw_response.generate(model="demo-image", prompt="a red barn", response_format="b64_json")
    Image.open(io.BytesIO(base64.b64decode(raw.parse().data[0].b64_json or ""))).verify()
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["unit"], row["quantity"], row["cost_usd"], row["provider"]) == ("images", 1, Decimal(0), "demo")

    created = httpx.post(
        gw.url + "/api/v1/admin/api-keys",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"name": "speech-only", "rpm_limit": 1, "allowed_models": ["demo-speech"]},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    limited = openai.OpenAI(api_key=created.json()["key"], base_url=gw.url + "/v1", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        limited.images.generate(model="demo-image", prompt="x")  # not among its models
    speech = limited.audio.speech.create(model="demo-speech", voice="alloy", input="hi", response_format="wav")
    assert speech.content[:4] == b"RIFF"
    with pytest.raises(openai.RateLimitError):
        limited.audio.speech.create(model="demo-speech", voice="alloy", input="hi again")  # 1 a minute
