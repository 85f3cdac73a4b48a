"""Issue 16 acceptance for `google`, `vertex_ai` and `cohere`: the `openai` SDK drives chat (streamed, with tools)
and embeddings through the real app over HTTP against local fakes speaking each provider's wire format; each
call's ledger record has its tokens and its cost, exact; a 429's retry delay reaches the client.

Vertex AI's token comes from a fake Google OAuth server through google-auth's own service-account flow: the
test's key file (an RSA key made here) names the fake as its `token_uri`, and the fake checks the JWT assertion's
RS256 signature against the key's public half."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oneflow_ai.pricing import TokenCounter
from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes import cohere_upstream as fake_cohere
from tests.fakes import gemini_upstream as fake_gemini
from tests.fakes.cohere_upstream import CohereUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.google_oauth import AUDIENCE, GoogleOAuth
from tests.fakes.runner import AiohttpServer

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": False},
    },
}
MESSAGES: Any = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}]
SA_EMAIL = "gateway@my-project.iam.gserviceaccount.com"
GEMINI_PRICE = 'price: {input_per_million: "2", output_per_million: "10", cached_input_per_million: "0.5"}'
GEMINI_COST = Decimal(7 * 2 + 4 * Decimal("0.5") + 12 * 10) / 1_000_000  # 7 uncached + 4 cached in, 7 + 5 thoughts out
COHERE_COST = Decimal(13 * Decimal("2.5") + 9 * 10) / 1_000_000  # Cohere's billed units


def service_account_file(path: Path, token_uri: str) -> bytes:
    """Write a service-account key file with a fresh RSA key; return the key's public half (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info = {
        "type": "service_account",
        "project_id": "my-project",
        "private_key_id": "key-1",
        "private_key": private.decode(),
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info))
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    gemini = GeminiUpstream(require_key=UPSTREAM_KEY)
    cohere = CohereUpstream(require_key=UPSTREAM_KEY)
    servers = [AiohttpServer(gemini.app), AiohttpServer(cohere.app)]
    keys = tmp_path_factory.mktemp("keys")
    oauth = GoogleOAuth(b"", SA_EMAIL, on_issue=gemini.tokens.add)
    oauth_server = AiohttpServer(oauth.app)
    servers.append(oauth_server)
    oauth.url = oauth_server.url
    oauth.public_key = service_account_file(keys / "sa.json", f"{oauth.url}/token")
    service_account_file(keys / "other.json", f"{oauth.url}/token")  # a key the token server does not know
    try:
        yield {
            "gemini": gemini,
            "gemini_url": servers[0].url,
            "cohere": cohere,
            "cohere_url": servers[1].url,
            "oauth": oauth,
            "keys": keys,
        }
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def gateway(start_gateway: Any, upstreams: dict[str, Any], tmp_path: Path) -> tuple[openai.OpenAI, str]:
    g, c, keys = upstreams["gemini_url"], upstreams["cohere_url"], upstreams["keys"]
    config = f"""
routing: {{max_attempts: 1}}
models:
  - name: gem
    deployments:
      - {{provider: google, model: gemini-2.5-flash, base_url: "{g}", api_key: env:GEMINI_KEY, {GEMINI_PRICE}}}
  - name: gem-limited
    deployments: [{{provider: google, model: gemini-429, base_url: "{g}", api_key: env:GEMINI_KEY}}]
  - name: vertex
    deployments:
      - provider: vertex_ai
        model: gemini-2.5-pro
        base_url: "{g}"
        project: my-project
        location: europe-west4
        credentials_file: "{keys / "sa.json"}"
        {GEMINI_PRICE}
  - name: vertex-unknown-key
    deployments:
      - provider: vertex_ai
        model: gemini-2.5-pro
        base_url: "{g}"
        project: p
        credentials_file: "{keys / "other.json"}"
  - name: cmd
    deployments:
      - provider: cohere
        model: command-a-03-2025
        base_url: "{c}"
        api_key: env:COHERE_KEY
        price: {{input_per_million: "2.5", output_per_million: "10"}}
  - name: cmd-limited
    deployments: [{{provider: cohere, model: command-429, base_url: "{c}", api_key: env:COHERE_KEY}}]
  - name: gem-embed
    mode: embedding
    deployments: [{{provider: google, model: gemini-embedding-001, base_url: "{g}", api_key: env:GEMINI_KEY}}]
  - name: vertex-embed
    mode: embedding
    deployments:
      - provider: vertex_ai
        model: gemini-embedding-001
        base_url: "{g}"
        project: my-project
        credentials_file: "{keys / "sa.json"}"
  - name: cmd-embed
    mode: embedding
    deployments:
      - provider: cohere
        model: embed-v4.0
        base_url: "{c}"
        api_key: env:COHERE_KEY
        price: {{input_per_million: "0.12", output_per_million: "0"}}
"""
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {"GEMINI_KEY": UPSTREAM_KEY, "COHERE_KEY": UPSTREAM_KEY}
    server = start_gateway(config_yaml=config, env=env, database_url=database_url)
    return openai.OpenAI(api_key=MASTER_KEY, base_url=server.url + "/v1", max_retries=0), database_url


def streamed(client: openai.OpenAI, model: str) -> tuple[str, str, list[Any]]:
    """A streamed chat with a tool: (request id, the text, the chunks)."""
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=MESSAGES, tools=[WEATHER_TOOL], stream=True, stream_options={"include_usage": True}
    ) as response:
        request_id = response.headers["x-request-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return request_id, text, chunks


def tool_arguments(chunks: list[Any]) -> dict[str, Any]:
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert calls and calls[0].function.name == "get_weather" and calls[0].id
    return dict(json.loads("".join(tc.function.arguments or "" for tc in calls)))


def test_google_chat_with_tools_streamed_and_not(gateway: tuple[openai.OpenAI, str], upstreams: dict[str, Any]) -> None:
    client, db = gateway
    raw = client.chat.completions.with_raw_response.create(model="gem", messages=MESSAGES, tools=[WEATHER_TOOL])
    completion = raw.parse()
    [call] = completion.choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert (completion.choices[0].message.content, completion.choices[0].finish_reason) == (
        fake_gemini.TEXT,
        "tool_calls",
    )
    sent = upstreams["gemini"].received[-1]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent["headers"]["x-goog-api-key"] == UPSTREAM_KEY and "authorization" not in sent["headers"]
    assert sent["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert "additionalProperties" not in json.dumps(sent["body"]["tools"])
    stream_id, text, chunks = streamed(client, "gem")
    assert text == fake_gemini.TEXT and tool_arguments(chunks) == {"city": "Paris"}
    assert upstreams["gemini"].received[-1]["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    [usage] = [c.usage for c in chunks if c.usage is not None]
    assert (usage.prompt_tokens, usage.completion_tokens) == (11, 12)
    rows = ledger_rows(db, [raw.headers["x-request-id"], stream_id])
    assert len(rows) == 2
    for row in rows:
        assert (row["provider"], row["status"], row["usage_source"]) == ("google", "ok", "upstream")
        assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (11, 12, 4)
        assert Decimal(row["cost_usd"]) == GEMINI_COST


def test_vertex_chat_with_a_service_account_token(
    gateway: tuple[openai.OpenAI, str], upstreams: dict[str, Any]
) -> None:
    client, db = gateway
    oauth = upstreams["oauth"]
    issued_before = len(oauth.issued)
    stream_id, text, chunks = streamed(client, "vertex")
    assert text == fake_gemini.TEXT and tool_arguments(chunks) == {"city": "Paris"}
    raw = client.chat.completions.with_raw_response.create(model="vertex", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == fake_gemini.TEXT
    assert len(oauth.issued) == issued_before + 1  # one token, cached for the second call
    claims = oauth.claims[-1]  # the assertion's RS256 signature was checked by the token server
    assert (claims["iss"], claims["aud"]) == (SA_EMAIL, AUDIENCE)
    sent = upstreams["gemini"].received[-2:]
    prefix = "/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-pro"
    assert [s["path"] for s in sent] == [f"{prefix}:streamGenerateContent?alt=sse", f"{prefix}:generateContent"]
    assert {s["headers"]["authorization"] for s in sent} == {f"Bearer {oauth.issued[-1]}"}
    rows = ledger_rows(db, [stream_id, raw.headers["x-request-id"]])
    assert len(rows) == 2 and {r["provider"] for r in rows} == {"vertex_ai"}
    stream_row = next(r for r in rows if r["request_id"] == stream_id)
    assert (stream_row["input_tokens"], stream_row["output_tokens"], stream_row["cached_tokens"]) == (11, 12, 4)
    assert Decimal(stream_row["cost_usd"]) == GEMINI_COST


def test_vertex_with_a_key_the_token_server_refuses(gateway: tuple[openai.OpenAI, str]) -> None:
    client, _ = gateway
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="vertex-unknown-key", messages=MESSAGES)
    assert info.value.status_code == 502
    assert "Could not get a Google access token" in info.value.message and "invalid_grant" in info.value.message


def test_cohere_chat_with_tools_streamed_and_not(gateway: tuple[openai.OpenAI, str], upstreams: dict[str, Any]) -> None:
    client, db = gateway
    raw = client.chat.completions.with_raw_response.create(model="cmd", messages=MESSAGES, tools=[WEATHER_TOOL])
    completion = raw.parse()
    [call] = completion.choices[0].message.tool_calls or []
    assert (call.id, json.loads(call.function.arguments)) == ("get_weather_1", {"city": "Paris"})  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"
    sent = upstreams["cohere"].received[-1]
    assert sent["path"] == "/v2/chat" and sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent["body"]["messages"][0] == {"role": "system", "content": "Be brief."} and "stream" not in sent["body"]
    stream_id, _, chunks = streamed(client, "cmd")
    assert tool_arguments(chunks) == {"city": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    text_stream = client.chat.completions.create(model="cmd", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in text_stream if c.choices) == fake_cohere.TEXT
    rows = ledger_rows(db, [raw.headers["x-request-id"], stream_id])
    assert len(rows) == 2
    for row in rows:
        assert (row["provider"], row["input_tokens"], row["output_tokens"]) == ("cohere", 13, 9)
        assert Decimal(row["cost_usd"]) == COHERE_COST


@pytest.mark.parametrize(
    ("model", "retry_after", "message"),
    [
        ("gem-limited", fake_gemini.RETRY_DELAY_S, "Resource has been exhausted"),
        ("cmd-limited", fake_cohere.RETRY_AFTER_S, "Trial key"),
    ],
)
def test_a_429_reaches_the_client_with_its_retry_after(
    gateway: tuple[openai.OpenAI, str], model: str, retry_after: int, message: str
) -> None:
    client, _ = gateway
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=model, messages=MESSAGES)
    assert info.value.status_code == 429 and message in info.value.message
    assert info.value.response.headers["retry-after"] == str(retry_after)


def floats(embedding: Any) -> list[float]:
    if isinstance(embedding, str):  # the SDK's base64, when it does not decode it itself
        raw = base64.b64decode(embedding)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return list(embedding)


def test_embeddings_through_google_vertex_and_cohere(
    gateway: tuple[openai.OpenAI, str], upstreams: dict[str, Any]
) -> None:
    client, db = gateway
    google = client.embeddings.with_raw_response.create(model="gem-embed", input=["first", "second"])
    assert [floats(d.embedding) for d in google.parse().data] == [fake_gemini.VECTOR] * 2
    assert isinstance(google.http_response.json()["data"][0]["embedding"], str)  # base64, as the SDK asked
    assert upstreams["gemini"].received[-1]["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    [row] = ledger_rows(db, [google.headers["x-request-id"]])  # Gemini reports no usage: the gateway counts
    counted = TokenCounter().count_text("first") + TokenCounter().count_text("second")
    assert (row["provider"], row["input_tokens"], row["usage_source"]) == ("google", counted, "counted")
    assert Decimal(row["cost_usd"]) == counted * Decimal("0.15") / 1_000_000  # the catalog's price
    as_floats = client.embeddings.create(model="gem-embed", input="one", encoding_format="float")
    assert as_floats.data[0].embedding == fake_gemini.VECTOR
    vertex = client.embeddings.with_raw_response.create(model="vertex-embed", input=["a", "b"], dimensions=3)
    assert [floats(d.embedding) for d in vertex.parse().data] == [fake_gemini.VECTOR] * 2
    sent = upstreams["gemini"].received[-1]
    assert (
        sent["path"]
        == "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-embedding-001:predict"
    )
    assert sent["body"] == {
        "instances": [{"content": "a"}, {"content": "b"}],
        "parameters": {"outputDimensionality": 3},
    }
    [row] = ledger_rows(db, [vertex.headers["x-request-id"]])
    assert (row["provider"], row["input_tokens"], row["usage_source"]) == (
        "vertex_ai",
        2 * fake_gemini.PREDICT_TOKENS,
        "upstream",
    )
    assert Decimal(row["cost_usd"]) == 2 * fake_gemini.PREDICT_TOKENS * Decimal("0.15") / 1_000_000
    cohere = client.embeddings.with_raw_response.create(model="cmd-embed", input="hello")
    assert floats(cohere.parse().data[0].embedding) == fake_cohere.VECTOR
    sent = upstreams["cohere"].received[-1]["body"]
    assert sent == {
        "model": "embed-v4.0",
        "texts": ["hello"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }
    [row] = ledger_rows(db, [cohere.headers["x-request-id"]])
    assert (row["provider"], row["input_tokens"]) == ("cohere", fake_cohere.EMBED_BILLED)
    assert Decimal(row["cost_usd"]) == fake_cohere.EMBED_BILLED * Decimal("0.12") / 1_000_000
