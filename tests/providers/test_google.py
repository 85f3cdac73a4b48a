"""The `google` provider against golden fixtures: OpenAI request -> `generateContent` body, Gemini answers ->
`chat.completion`, a captured `streamGenerateContent?alt=sse` stream (CRLF-framed) -> chunk frames, embeddings,
and Google's errors."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import (
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
)
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.embedding_list import as_requested
from oneflow_ai.providers.google.chat import to_gemini
from oneflow_ai.providers.google.provider import GoogleProvider
from oneflow_ai.providers.google.reply import from_gemini
from oneflow_ai.providers.google.stream import GeminiStream
from oneflow_ai.upstream.decoders import StreamEvent
from oneflow_ai.upstream.sse import SSEParser

FIXTURES = Path(__file__).parent / "fixtures" / "google"
DEPLOYMENT = Deployment(provider="google", model="gemini-2.5-flash", id="gemini/0")
PROVIDER = GoogleProvider()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def without_created(value: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(value.pop("created"), int)
    return value


@pytest.mark.parametrize("case", ["request_full", "request_minimal"])
def test_openai_request_becomes_the_golden_gemini_request(case: str) -> None:
    assert to_gemini(fixture(f"{case}.openai.json")) == fixture(f"{case}.gemini.json")


def test_requests_go_to_generate_content_with_the_key_header() -> None:
    body = fixture("request_minimal.openai.json")
    request = PROVIDER.chat_request(body, DEPLOYMENT, stream=False)
    assert "x-goog-api-key" not in request.headers
    PROVIDER.auth(DEPLOYMENT, {"GEMINI_API_KEY": "AIza-secret"}).apply(request)
    assert request.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "AIza-secret"
    assert json.loads(request.body) == fixture("request_minimal.gemini.json")
    streamed = PROVIDER.chat_request(body, DEPLOYMENT.model_copy(update={"base_url": "http://g.local/"}), stream=True)
    assert streamed.url == "http://g.local/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        (
            {"type": "function", "function": {"name": "f"}},
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        ),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert to_gemini({**body, "tool_choice": choice})["toolConfig"] == config


def test_json_object_n_and_penalties_are_generation_config() -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"},
        "n": 2,
        "seed": 7,
        "presence_penalty": 0.5,
        "max_completion_tokens": 99,
        "stop": ["a", "b"],
    }
    assert to_gemini(body)["generationConfig"] == {
        "responseMimeType": "application/json",
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.5,
        "maxOutputTokens": 99,
        "stopSequences": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}, "messages[0].content[0]"),
        ({"role": "tool", "tool_call_id": "unknown", "content": "x"}, "messages[0].tool_call_id"),
        (
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]},
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"role": "function", "content": "x"}, "messages[0].role"),
    ],
)
def test_requests_gemini_cannot_take_are_refused(message: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_gemini({"messages": [message]})
    assert info.value.param == param


@pytest.mark.parametrize(
    ("case", "usage"),
    [
        ("response_text", Usage(prompt_tokens=8, completion_tokens=737)),  # 12 candidates + 725 thoughts
        ("response_function_call", Usage(prompt_tokens=1650, completion_tokens=40, cached_tokens=1024)),
    ],
)
def test_gemini_response_becomes_the_golden_completion(case: str, usage: Usage) -> None:
    result = PROVIDER.chat_response((FIXTURES / f"{case}.gemini.json").read_bytes(), DEPLOYMENT)
    completion = json.loads(result.body)
    ChatCompletion.model_validate(completion)
    assert without_created(completion) == fixture(f"{case}.openai.json")
    assert result.usage == usage and result.model == fixture(f"{case}.gemini.json")["modelVersion"]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    response = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert from_gemini(response, response_id="r", model="m", created=0)["choices"][0]["finish_reason"] == finish


def test_thoughts_are_left_out_and_a_blocked_prompt_is_content_filter() -> None:
    parts = [{"text": "thinking...", "thought": True}, {"text": "answer"}]
    response = {"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]}
    assert from_gemini(response, response_id="r", model="m", created=0)["choices"][0]["message"]["content"] == "answer"
    blocked = PROVIDER.chat_response(b'{"promptFeedback": {"blockReason": "SAFETY"}}', DEPLOYMENT)
    assert blocked.parsed["choices"][0]["finish_reason"] == "content_filter"
    with pytest.raises(UpstreamError):
        PROVIDER.chat_response(b'{"error": {"message": "x"}}', DEPLOYMENT)


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run_stream(translator: GeminiStream, raw: bytes, size: int) -> list[bytes]:
    parser = SSEParser()
    frames: list[bytes] = []
    for piece in pieces(raw, size):
        for event in parser.feed(piece):
            frames += translator.feed(event)
    for event in parser.flush():
        frames += translator.feed(event)
    return frames + translator.finish()


def decoded(frames: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for item in frames:
        assert item.startswith(b"data: ") and item.endswith(b"\n\n"), item
        payload = item[6:-2]
        if payload == b"[DONE]":
            out.append("[DONE]")
        else:
            chunk = json.loads(payload)
            ChatCompletionChunk.model_validate(chunk)
            out.append(without_created(chunk))
    return out


@pytest.mark.parametrize("size", [1, 2, 7, 64, 100_000])  # every CRLF and UTF-8 character split somewhere
@pytest.mark.parametrize(
    ("case", "usage", "text"),
    [
        ("stream_text", Usage(9, 31), "Bonjour ! Il fait 18°C à Paris."),
        ("stream_function_call", Usage(70, 30), '{"city":"Paris"}{"city":"Lyon"}'),
    ],
)
def test_gemini_stream_becomes_the_golden_chunks(case: str, usage: Usage, text: str, size: int) -> None:
    translator = PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=True)
    frames = run_stream(translator, (FIXTURES / f"{case}.sse").read_bytes(), size)
    assert decoded(frames) == fixture(f"{case}.openai.json")
    assert translator.usage == usage and translator.completion_text() == text


def test_a_stream_without_finish_reason_or_with_an_error_fails() -> None:
    raw = (FIXTURES / "stream_text.sse").read_bytes()
    first = raw[: raw.index(b"\r\n\r\n") + 4]
    with pytest.raises(UpstreamError, match="finishReason"):
        run_stream(PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=False), first, 9)
    error = b'data: {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}\r\n\r\n'
    with pytest.raises(UpstreamError, match="overloaded"):
        run_stream(PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=False), first + error, 9)


# --- embeddings -------------------------------------------------------------------------------------------------


def test_one_text_is_embed_content_and_several_batch_embed_contents() -> None:
    one = PROVIDER.embeddings_request({"input": "hello", "dimensions": 3}, DEPLOYMENT)
    assert one.url.endswith("/v1beta/models/gemini-2.5-flash:embedContent")
    assert json.loads(one.body) == {"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 3}
    several = PROVIDER.embeddings_request({"input": ["a", "b"]}, DEPLOYMENT)
    assert several.url.endswith(":batchEmbedContents")
    assert json.loads(several.body) == {
        "requests": [
            {"model": "models/gemini-2.5-flash", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/gemini-2.5-flash", "content": {"parts": [{"text": "b"}]}},
        ]
    }
    with pytest.raises(InvalidRequest):
        PROVIDER.embeddings_request({"input": [[1, 2, 3]]}, DEPLOYMENT)


@pytest.mark.parametrize(
    ("case", "vectors"),
    [
        ("embed_content", [[0.0125, -0.5, 0.25]]),
        ("batch_embed_contents", [[0.0125, -0.5, 0.25], [1.0, 0.0, -0.75]]),
    ],
)
def test_gemini_embeddings_become_openai_embeddings(case: str, vectors: list[list[float]]) -> None:
    result = PROVIDER.embeddings_response((FIXTURES / f"{case}.gemini.json").read_bytes(), DEPLOYMENT)
    answer = CreateEmbeddingResponse.model_validate(json.loads(result.body))
    assert [d.embedding for d in answer.data] == vectors and [d.index for d in answer.data] == list(range(len(vectors)))
    encoded = as_requested(result, {"encoding_format": "base64"}).parsed["data"]
    for item, vector in zip(encoded, vectors, strict=True):
        decoded = struct.unpack(f"<{len(vector)}f", base64.b64decode(item["embedding"]))
        assert decoded == pytest.approx(vector, rel=1e-7)  # float32, as OpenAI sends them


# --- errors -----------------------------------------------------------------------------------------------------


def google_error(code: int, status: str, message: str, details: list[Any] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def test_resource_exhausted_is_rate_limited_with_its_retry_delay() -> None:
    retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"}]
    body = google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", retry)
    err = PROVIDER.error(429, body, {}, DEPLOYMENT)
    assert isinstance(err, UpstreamRateLimited) and err.status == 429
    assert err.message == "google: Resource has been exhausted (e.g. check quota)."
    assert (err.retry_after, err.headers) == (31.0, {"retry-after": "31"})
    with_header = PROVIDER.error(429, body, {"Retry-After": "5"}, DEPLOYMENT)
    assert (with_header.retry_after, with_header.headers) == (5.0, {"retry-after": "5"})


def test_invalid_argument_is_rejected_with_the_message_and_status() -> None:
    body = google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
    err = PROVIDER.error(400, body, {}, DEPLOYMENT)
    assert isinstance(err, UpstreamRejected) and (err.status, err.code) == (400, "invalid_argument")
    assert err.message == "google: Request contains an invalid argument."
    too_long = google_error(
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    )
    assert isinstance(PROVIDER.error(400, too_long, {}, DEPLOYMENT), ContextWindowExceeded)


def test_a_refused_key_and_an_overload() -> None:
    body = google_error(403, "PERMISSION_DENIED", "API key not valid. Please pass a valid API key.")
    assert isinstance(PROVIDER.error(403, body, {}, DEPLOYMENT), UpstreamAuthFailed)
    overloaded = PROVIDER.error(503, google_error(503, "UNAVAILABLE", "The model is overloaded."), {}, DEPLOYMENT)
    assert type(overloaded) is UpstreamError and overloaded.retryable and "overloaded" in overloaded.message


def test_a_thought_signature_goes_out_in_the_call_id_and_comes_back_with_the_call() -> None:
    signature = "CiQBVKhc7pDxA2+WpYZ0kwYmH/oOdS0="
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": signature}
    response = {"candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP"}]}
    message = from_gemini(response, response_id="chatcmpl-r1", model="gemini-3-pro-preview", created=0)["choices"][0][
        "message"
    ]
    [tool_call] = message["tool_calls"]
    assert tool_call["id"] == f"call_r1_0_0__thought__{signature}"
    answer = {"role": "tool", "tool_call_id": tool_call["id"], "content": "18C"}
    sent = to_gemini({"messages": [{"role": "user", "content": "weather?"}, message, answer]})
    assert sent["contents"][1] == {"role": "model", "parts": [call]}  # as Gemini sent it
    assert sent["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"
    stream = PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=False)
    chunks = stream.feed(StreamEvent(None, json.dumps({**response, "responseId": "r2"}).encode()))
    delta = json.loads(chunks[1][6:-2])["choices"][0]["delta"]
    assert delta["tool_calls"][0]["id"] == f"call_r2_0_0__thought__{signature}"
