"""Issue 16: `client.images.generate` against a `stability` deployment and `client.audio.speech.create` against an
`elevenlabs` one, through the gateway over real HTTP to fakes speaking their wire formats (the Stability fake
checks the multipart fields and the bearer key, the ElevenLabs fake the `xi-api-key`); each ledger record's unit,
quantity and cost exact in Decimal; a Stability deployment failing with a 500 falls back to an OpenAI image
deployment; their errors come back as OpenAI errors with their messages."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.elevenlabs_upstream import AUDIO, VOICE, ElevenLabsUpstream
from tests.fakes.openai_media_upstream import PNG, OpenAIMediaUpstream
from tests.fakes.runner import AiohttpServer
from tests.fakes.stability_upstream import StabilityUpstream

STABILITY_KEY = "sk-stability-0123456789"
ELEVENLABS_KEY = "xi-elevenlabs-0123456789"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, Any]]:
    fakes = {
        "stability": StabilityUpstream(STABILITY_KEY),
        "elevenlabs": ElevenLabsUpstream(ELEVENLABS_KEY),
        "openai": OpenAIMediaUpstream(UPSTREAM_KEY),
    }
    servers = {name: AiohttpServer(f.app) for name, f in fakes.items()}
    yield {name: (fakes[name], servers[name]) for name in fakes}
    for server in servers.values():
        server.stop()


def config(urls: dict[str, str]) -> str:
    stability = f"{{provider: stability, base_url: '{urls['stability']}', api_key: env:STABILITY_API_KEY"
    return f"""models:
  - name: core
    mode: image_generation
    deployments:
      - {stability}, model: stable-image-core}}
  - name: turbo
    mode: image_generation
    deployments:
      - {stability}, model: sd3.5-large-turbo}}
  - name: flaky-stability
    mode: image_generation
    fallbacks: [dall-e-3]
    deployments:
      - {stability}, model: stable-image-ultra, id: stability-ultra}}
  - name: dall-e-3
    mode: image_generation
    deployments:
      - {{provider: openai, base_url: '{urls["openai"]}/v1', api_key: env:UPSTREAM_KEY, model: dall-e-3}}
  - name: eleven
    mode: audio_speech
    deployments:
      - {{provider: elevenlabs, base_url: '{urls["elevenlabs"]}', model: eleven_multilingual_v2}}
"""


@pytest.fixture
def setup(start_gateway: Any, upstreams: dict[str, Any], tmp_path: Any) -> tuple[openai.OpenAI, dict[str, Any], str]:
    database_url = f"sqlite:///{tmp_path / 'media.db'}"
    urls = {name: server.url for name, (_, server) in upstreams.items()}
    env = {"STABILITY_API_KEY": STABILITY_KEY, "ELEVENLABS_API_KEY": ELEVENLABS_KEY}  # ElevenLabs' by default
    gw = start_gateway(config_yaml=config(urls), env=env, database_url=database_url)
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    return client, {name: f for name, (f, _) in upstreams.items()}, database_url


def test_stability_core_image(setup: Any) -> None:
    """stable-image-core: one image, $0.03 (3 credits at Stability)."""
    client, fakes, db = setup
    raw = client.images.with_raw_response.generate(
        model="core",
        prompt="a lighthouse at dusk",
        size="1792x1024",
        response_format="b64_json",
        extra_body={"negative_prompt": "fog", "seed": 42},
    )
    images = raw.parse()
    assert [base64.b64decode(d.b64_json or "") for d in images.data] == [PNG]
    sent = fakes["stability"].received[-1]
    assert sent["path"] == "/v2beta/stable-image/generate/core"
    assert sent["headers"]["Authorization"] == f"Bearer {STABILITY_KEY}"
    assert sent["headers"]["Accept"] == "application/json"
    assert sent["form"] == {
        "prompt": "a lighthouse at dusk",
        "output_format": "png",
        "aspect_ratio": "16:9",
        "negative_prompt": "fog",
        "seed": "42",
    }
    assert raw.headers["x-oneflow-provider"] == "stability"
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["unit"], row["quantity"], row["cost_usd"]) == ("images", Decimal(1), Decimal("0.03"))
    assert row["credits"] == Decimal(3) and row["provider"] == "stability"


def test_stability_sd3_model_and_url_format(setup: Any) -> None:
    """sd3.5-large-turbo goes to the sd3 API with its `model`; a `url` answer is a data: URL; $0.04."""
    client, fakes, db = setup
    raw = client.images.with_raw_response.generate(model="turbo", prompt="a fox", response_format="url")
    [image] = raw.parse().data
    assert image.url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    sent = fakes["stability"].received[-1]
    assert sent["path"] == "/v2beta/stable-image/generate/sd3"
    assert sent["form"]["model"] == "sd3.5-large-turbo"
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert row["cost_usd"] == Decimal("0.04")


def test_stability_falls_back_to_openai_on_a_500(setup: Any) -> None:
    """Stability answers 500: the call falls back to the dall-e-3 group; the record is OpenAI's, $0.040."""
    client, fakes, db = setup
    before = len(fakes["stability"].received)
    raw = client.images.with_raw_response.generate(model="flaky-stability", prompt="fail-500")
    assert len(raw.parse().data) == 1
    assert len(fakes["stability"].received) == before + 1  # tried first
    assert fakes["openai"].received[-1]["body"]["model"] == "dall-e-3"
    assert raw.headers["x-oneflow-provider"] == "openai" and raw.headers["x-oneflow-attempts"] == "2"
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["provider"], row["served_model"], row["cost_usd"]) == ("openai", "dall-e-3", Decimal("0.040"))
    assert row["attempts"] == 2 and row["quantity"] == Decimal(1)


def test_stability_errors_as_openai_errors(setup: Any) -> None:
    client, _, _ = setup
    with pytest.raises(openai.BadRequestError) as moderated:
        client.images.generate(model="core", prompt="something forbidden")
    assert moderated.value.code == "content_moderation"
    assert "flagged by our content moderation" in moderated.value.message
    with pytest.raises(openai.BadRequestError) as many:
        client.images.generate(model="core", prompt="x", n=2)
    assert many.value.param == "n"


def test_elevenlabs_speech(setup: Any) -> None:
    """eleven_multilingual_v2, 26 characters: 26 x $0.0001 = $0.0026; the audio streamed as it came."""
    client, fakes, db = setup
    text = "Hello from ElevenLabs, hi!"
    assert len(text) == 26
    with client.audio.speech.with_streaming_response.create(
        model="eleven", voice=VOICE, input=text, response_format="pcm", speed=1.1
    ) as response:
        assert response.headers["content-type"] == "audio/pcm"
        audio = b"".join(response.iter_bytes())
        request_id = response.headers["x-request-id"]
    assert audio == b"".join(AUDIO)
    sent = fakes["elevenlabs"].received[-1]
    assert sent["path"] == f"/v1/text-to-speech/{VOICE}/stream"
    assert sent["query"] == {"output_format": "pcm_24000"}
    assert sent["headers"]["xi-api-key"] == ELEVENLABS_KEY
    assert sent["body"] == {"text": text, "model_id": "eleven_multilingual_v2", "voice_settings": {"speed": 1.1}}
    [row] = ledger_rows(db, [request_id])
    assert (row["unit"], row["quantity"], row["cost_usd"]) == ("characters", Decimal(26), Decimal("0.0026"))
    assert row["provider"] == "elevenlabs" and row["streamed"]


def test_elevenlabs_errors_as_openai_errors(setup: Any) -> None:
    client, _, _ = setup
    with pytest.raises(openai.BadRequestError) as unknown:
        client.audio.speech.create(model="eleven", voice="no-such-voice", input="hi")
    assert unknown.value.code == "voice_not_found"
    assert "no-such-voice was not found" in unknown.value.message
    with pytest.raises(openai.BadRequestError) as flac:
        client.audio.speech.create(model="eleven", voice=VOICE, input="hi", response_format="flac")
    assert flac.value.param == "response_format"


def test_speech_cut_mid_way_breaks_the_response_off(setup: Any) -> None:
    """ElevenLabs drops the connection after the first piece of audio: the client's response is broken off too (not
    ended as if complete), and the call is recorded upstream_error, its 10 characters charged ($0.001)."""
    client, _, db = setup
    with client.audio.speech.with_streaming_response.create(model="eleven", voice=VOICE, input="cut-stream") as r:
        request_id = r.headers["x-request-id"]
        with pytest.raises(Exception, match="incomplete chunked read"):  # the SDK's httpx error
            b"".join(r.iter_bytes())
    [row] = ledger_rows(db, [request_id])
    assert (row["status"], row["unit"], row["quantity"]) == ("upstream_error", "characters", Decimal(10))
    assert row["cost_usd"] == Decimal("0.001")
