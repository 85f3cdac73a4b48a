"""Issue 16: the `openai` SDK's `images.generate`, `audio.speech.create` and `audio.transcriptions.create` through
the gateway to a fake OpenAI speaking its exact wire format, over real HTTP; each call's ledger record has its unit,
quantity and cost, exact in Decimal (a worked example per modality, on SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import io
import struct
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes import openai_media_upstream as fake
from tests.fakes.runner import AiohttpServer


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[fake.OpenAIMediaUpstream, AiohttpServer]]:
    server_fake = fake.OpenAIMediaUpstream(UPSTREAM_KEY)
    server = AiohttpServer(server_fake.app)
    yield server_fake, server
    server.stop()


def config(url: str) -> str:
    dep = f"{{provider: openai, base_url: '{url}/v1', api_key: env:UPSTREAM_KEY, model: %s}}"
    groups = [
        ("dall-e-3", "image_generation", "dall-e-3"),
        ("gpt-image-1", "image_generation", "gpt-image-1"),
        ("broken-images", "image_generation", "fake-error-500"),
        ("refused-images", "image_generation", "fake-400"),
        ("tts-1", "audio_speech", "tts-1"),
        ("whisper-1", "audio_transcription", "whisper-1"),
        ("gpt-4o-transcribe", "audio_transcription", "gpt-4o-transcribe"),
    ]
    lines = ["models:"]
    for name, mode, model in groups:
        lines += [f"  - name: {name}", f"    mode: {mode}", "    deployments:", "      - " + dep % model]
    lines += [  # a model the catalog does not know, priced by the deployment (Groq's Whisper, say)
        "  - name: whisper-large-v3",
        "    mode: audio_transcription",
        "    deployments:",
        f"      - {{provider: openai_compatible, base_url: '{url}/v1', api_key: env:UPSTREAM_KEY,"
        " model: whisper-large-v3, price: {per_second: '0.00003083'}}",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def setup(start_gateway: Any, upstream: Any, database_url: str) -> tuple[openai.OpenAI, Any, str]:
    fake_upstream, server = upstream
    gw = start_gateway(config_yaml=config(server.url), database_url=database_url)
    return openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0), fake_upstream, database_url


def wav(seconds: int, rate: int = 16_000) -> bytes:
    """A PCM WAV file of `seconds` of silence (16-bit mono)."""
    pcm = bytes(2 * rate * seconds)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, 2 * rate, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def test_images_priced_by_quality_and_size(setup: Any) -> None:
    """dall-e-3, hd, 1792x1024, two images: 2 x $0.120 (the catalog's image_prices.hd.1792x1024) = $0.24."""
    client, upstream, db = setup
    raw = client.images.with_raw_response.generate(
        model="dall-e-3", prompt="a lighthouse", n=2, size="1792x1024", quality="hd", response_format="b64_json"
    )
    images = raw.parse()
    assert [base64.b64decode(d.b64_json or "") for d in images.data] == [fake.PNG, fake.PNG]
    assert images.data[0].revised_prompt == "A picture of a lighthouse"
    sent = upstream.received[-1]
    assert sent["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent["body"] == {
        "model": "dall-e-3",
        "prompt": "a lighthouse",
        "n": 2,
        "size": "1792x1024",
        "quality": "hd",
        "response_format": "b64_json",
    }
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["endpoint"], row["unit"], row["quantity"]) == ("images", "images", Decimal(2))
    assert row["cost_usd"] == Decimal("0.240") and row["credits"] == Decimal("24")
    assert row["status"] == "ok" and row["provider"] == "openai"


def test_gpt_image_1_priced_by_the_tokens_it_reports(setup: Any) -> None:
    """gpt-image-1 reports 50 input and 1056 output tokens: 50 x $5/1M + 1056 x $40/1M = $0.04249."""
    client, _, db = setup
    raw = client.images.with_raw_response.generate(model="gpt-image-1", prompt="a cat")
    assert raw.parse().usage is not None
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["unit"], row["quantity"]) == ("images", Decimal(1))
    assert (row["input_tokens"], row["output_tokens"]) == (50, 1056)
    assert row["cost_usd"] == Decimal(50) * Decimal(5) / 10**6 + Decimal(1056) * Decimal(40) / 10**6
    assert row["cost_usd"] == Decimal("0.04249")


def test_speech_is_streamed_and_priced_per_character(setup: Any) -> None:
    """tts-1, 29 characters: 29 x $0.000015 = $0.000435."""
    client, upstream, db = setup
    text = "Hello world! This is OneFlow."
    assert len(text) == 29
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=text, response_format="mp3"
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        audio = b"".join(response.iter_bytes())
        request_id = response.headers["x-request-id"]
    assert audio == b"".join(fake.SPEECH)
    assert upstream.received[-1]["body"] == {
        "model": "tts-1",
        "voice": "alloy",
        "input": text,
        "response_format": "mp3",
    }
    [row] = ledger_rows(db, [request_id])
    assert (row["endpoint"], row["unit"], row["quantity"]) == ("speech", "characters", Decimal(29))
    assert row["cost_usd"] == Decimal("0.000435") and row["streamed"] and row["status"] == "ok"


def test_transcription_priced_per_second_from_verbose_json(setup: Any) -> None:
    """whisper-1, verbose_json says 8.470000267028809 s: counted to the microsecond, 8.470000 s (as the ledger keeps
    it), x $0.0001 = $0.000847, exact."""
    client, upstream, db = setup
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1",
        file=("speech.mp3", io.BytesIO(b"ID3 not really audio"), "audio/mpeg"),
        response_format="verbose_json",
        language="en",
        prompt="A fox.",
        extra_body={"timestamp_granularities[]": ["segment", "word"]},
    )
    assert raw.parse().text == fake.TRANSCRIPT
    sent = upstream.received[-1]
    assert sent["file"] == ("speech.mp3", "audio/mpeg", b"ID3 not really audio")
    assert sent["form"]["model"] == "whisper-1" and sent["form"]["language"] == "en"
    assert sent["form"]["prompt"] == "A fox." and sent["form"]["response_format"] == "verbose_json"
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["endpoint"], row["unit"], row["quantity"]) == ("transcription", "seconds", Decimal("8.47"))
    assert row["cost_usd"] == Decimal("8.470000") * Decimal("0.0001") == Decimal("0.000847")


def test_transcription_json_usage_seconds(setup: Any) -> None:
    """whisper-1's json answer: usage {"type": "duration", "seconds": 9}: 9 x $0.0001 = $0.0009."""
    client, _, db = setup
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("a.wav", io.BytesIO(wav(2)), "audio/wav")
    )
    assert raw.parse().text == fake.TRANSCRIPT
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["unit"], row["quantity"], row["cost_usd"]) == ("seconds", Decimal(9), Decimal("0.0009"))


def test_transcription_as_text_measures_the_wav_file(setup: Any) -> None:
    """A `text` answer says no duration: the uploaded WAV plays 3 s (96,000 bytes at 32,000 bytes/s): $0.0003."""
    client, _, db = setup
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("a.wav", io.BytesIO(wav(3)), "audio/wav"), response_format="text"
    )
    assert raw.http_response.headers["content-type"].startswith("text/plain")
    assert raw.http_response.text == fake.TRANSCRIPT + "\n"
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["unit"], row["quantity"], row["cost_usd"]) == ("seconds", Decimal(3), Decimal("0.0003"))


def test_gpt_4o_transcribe_priced_by_tokens(setup: Any) -> None:
    """gpt-4o-transcribe reports 14 audio tokens in, 45 out: 14 x $6/1M + 45 x $10/1M = $0.000534."""
    client, _, db = setup
    raw = client.audio.transcriptions.with_raw_response.create(
        model="gpt-4o-transcribe", file=("a.wav", io.BytesIO(wav(1)), "audio/wav")
    )
    assert raw.parse().text == fake.TRANSCRIPT
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["input_tokens"], row["output_tokens"]) == (14, 45)
    assert (row["unit"], row["quantity"], row["cost_usd"]) == ("seconds", Decimal(1), Decimal("0.000534"))


def test_a_deployment_prices_a_model_the_catalog_does_not_know(setup: Any) -> None:
    """whisper-large-v3 on an OpenAI-compatible server at the deployment's $0.00003083 a second: 9 s, $0.00027747."""
    client, upstream, db = setup
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-large-v3", file=("a.wav", io.BytesIO(wav(1)), "audio/wav")
    )
    assert raw.parse().text == fake.TRANSCRIPT and upstream.received[-1]["form"]["model"] == "whisper-large-v3"
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["unit"], row["quantity"], row["cost_usd"]) == ("seconds", Decimal(9), Decimal("0.00027747"))


def test_errors_are_openai_errors(setup: Any) -> None:
    client, _, _ = setup
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="refused-images", prompt="x")
    assert refused.value.code == "content_policy_violation"
    assert "safety system" in refused.value.message
    with pytest.raises(openai.APIStatusError) as broken:
        client.images.generate(model="broken-images", prompt="x")
    assert broken.value.status_code == 502
    with pytest.raises(openai.BadRequestError) as wrong_mode:
        client.images.generate(model="tts-1", prompt="x")
    assert "does not support image generation" in wrong_mode.value.message
    with pytest.raises(openai.BadRequestError) as no_input:
        client.audio.speech.create(model="tts-1", voice="alloy", input="")
    assert no_input.value.param == "input"
    with pytest.raises(openai.BadRequestError) as chat_on_speech:
        client.chat.completions.create(model="tts-1", messages=[{"role": "user", "content": "hi"}])
    assert "audio_speech" in chat_on_speech.value.message


def test_models_lists_the_media_groups(setup: Any) -> None:
    client, _, _ = setup
    names = {m.id for m in client.models.list()}
    assert {"dall-e-3", "tts-1", "whisper-1", "demo-image", "demo-speech"} <= names


def test_budgets_count_images(start_gateway: Any, upstream: Any, tmp_path: Any) -> None:
    """A $0.10 budget on dall-e-3: an hd 1792x1024 image ($0.12) is refused before OpenAI is called; two
    standard ones ($0.04 each) are served and charged; a third would take it to $0.12 and is refused."""
    fake_upstream, server = upstream
    budget = "budgets:\n  - {scope: model, id: dall-e-3, period: total, limit_usd: '0.10'}\n"
    gw = start_gateway(config_yaml=config(server.url) + budget, database_url=f"sqlite:///{tmp_path / 'b.db'}")
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    before = len(fake_upstream.received)
    with pytest.raises(openai.RateLimitError, match=r"estimated at \$0\.12"):
        client.images.generate(model="dall-e-3", prompt="x", size="1792x1024", quality="hd")
    assert len(fake_upstream.received) == before
    for _ in range(2):
        client.images.generate(model="dall-e-3", prompt="x")
    with pytest.raises(openai.RateLimitError, match=r"has \$0\.02 left"):
        client.images.generate(model="dall-e-3", prompt="x")
    assert len(fake_upstream.received) == before + 2


def test_a_transcription_sent_again_with_its_idempotency_key_is_replayed(setup: Any) -> None:
    """The SDK draws a new multipart boundary for each request: the same form with the same key is still the same
    request (replayed: one upstream call, one record), and another form with that key a conflict."""
    client, upstream, db = setup
    audio = wav(1)
    before = len(upstream.received)
    key = {"Idempotency-Key": f"transcribe-{id(audio)}"}
    first, again = (
        client.audio.transcriptions.with_raw_response.create(
            model="whisper-1", file=("a.wav", io.BytesIO(audio), "audio/wav"), extra_headers=key
        )
        for _ in range(2)
    )
    assert again.headers.get("idempotent-replayed") == "true" and first.headers.get("idempotent-replayed") is None
    assert again.parse().text == first.parse().text == fake.TRANSCRIPT
    assert len(upstream.received) == before + 1
    assert len(ledger_rows(db, [first.headers["x-request-id"]])) == 1
    with pytest.raises(openai.UnprocessableEntityError):
        client.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", io.BytesIO(wav(2)), "audio/wav"), extra_headers=key
        )
