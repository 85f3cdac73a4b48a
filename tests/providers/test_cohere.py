"""The `cohere` provider against golden fixtures from Cohere's documented examples: OpenAI request -> chat v2
body, chat v2 answers -> `chat.completion`, v2 SSE streams -> chunk frames, embed v2, and Cohere's errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import InvalidRequest, UpstreamAuthFailed, UpstreamError, UpstreamRateLimited, UpstreamRejected
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.cohere.chat import to_cohere
from oneflow_ai.providers.cohere.provider import CohereProvider
from oneflow_ai.providers.cohere.stream import CohereStream
from oneflow_ai.upstream.sse import SSEParser

FIXTURES = Path(__file__).parent / "fixtures" / "cohere"
DEPLOYMENT = Deployment(provider="cohere", model="command-a-03-2025", id="cmd/0")
PROVIDER = CohereProvider()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def without_created(value: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(value.pop("created"), int)
    return value


def test_openai_request_becomes_the_golden_cohere_request() -> None:
    assert to_cohere(fixture("request_tools.openai.json")) == fixture("request_tools.cohere.json")


def test_chat_request_posts_to_v2_chat_with_the_bearer_key() -> None:
    body = {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hi"}]}
    request = PROVIDER.chat_request(body, DEPLOYMENT, stream=True)
    PROVIDER.auth(DEPLOYMENT, {"COHERE_API_KEY": "co-secret"}).apply(request)
    assert (request.method, request.url) == ("POST", "https://api.cohere.com/v2/chat")
    assert request.headers["authorization"] == "Bearer co-secret"
    assert request.headers["accept"] == "text/event-stream"
    assert json.loads(request.body) == {**body, "stream": True}
    assert "stream" not in json.loads(PROVIDER.chat_request(body, DEPLOYMENT, stream=False).body)


def test_a_named_tool_choice_is_required_with_that_tool_alone() -> None:
    tools = [{"type": "function", "function": {"name": n}} for n in ("a", "b")]
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": tools}
    out = to_cohere({**body, "tool_choice": {"type": "function", "function": {"name": "b"}}})
    assert (out["tool_choice"], out["tools"]) == ("REQUIRED", [tools[1]])
    assert "tool_choice" not in to_cohere({**body, "tool_choice": "auto"})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}], "n": 3}, "n"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "custom"}]}, "tools"),
    ],
)
def test_requests_cohere_cannot_take_are_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_cohere(body)
    assert info.value.param == param


@pytest.mark.parametrize(
    ("case", "usage"), [("response_text", Usage(17, 12)), ("response_tool_call", Usage(37, 28))]
)  # billed units, not the template-inflated tokens
def test_cohere_response_becomes_the_golden_completion(case: str, usage: Usage) -> None:
    result = PROVIDER.chat_response((FIXTURES / f"{case}.cohere.json").read_bytes(), DEPLOYMENT)
    completion = json.loads(result.body)
    ChatCompletion.model_validate(completion)
    assert without_created(completion) == fixture(f"{case}.openai.json")
    assert result.usage == usage


def run_stream(translator: CohereStream, raw: bytes, size: int) -> list[bytes]:
    parser = SSEParser()
    frames: list[bytes] = []
    for start in range(0, len(raw), size):
        for event in parser.feed(raw[start : start + size]):
            frames += translator.feed(event)
    for event in parser.flush():
        frames += translator.feed(event)
    return frames + translator.finish()


def decoded(frames: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for item in frames:
        payload = item[6:-2]
        if payload == b"[DONE]":
            out.append("[DONE]")
        else:
            chunk = json.loads(payload)
            ChatCompletionChunk.model_validate(chunk)
            out.append(without_created(chunk))
    return out


@pytest.mark.parametrize("size", [1, 3, 50, 100_000])
@pytest.mark.parametrize(
    ("case", "usage", "text"),
    [
        ("stream_text", Usage(3, 9), "Hello! Il fait 20°C à Toronto."),
        ("stream_tool_call", Usage(37, 28), '{\n    "location": "Toronto"\n}'),
    ],
)
def test_cohere_stream_becomes_the_golden_chunks(case: str, usage: Usage, text: str, size: int) -> None:
    translator = PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=True)
    frames = run_stream(translator, (FIXTURES / f"{case}.sse").read_bytes(), size)
    assert decoded(frames) == fixture(f"{case}.openai.json")
    assert translator.usage == usage and translator.completion_text() == text


def test_a_stream_cut_before_message_end_fails() -> None:
    raw = (FIXTURES / "stream_text.sse").read_bytes()
    translator = PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=False)
    with pytest.raises(UpstreamError, match="message-end"):
        run_stream(translator, raw[: raw.index(b"event: message-end")], 40)
    assert translator.completion_text() == "Hello! Il fait 20°C à Toronto."


def test_embed_request_and_the_documented_answer() -> None:
    request = PROVIDER.embeddings_request({"model": "embed-v4.0", "input": ["hello", "goodbye"]}, DEPLOYMENT)
    assert request.url == "https://api.cohere.com/v2/embed"
    assert json.loads(request.body) == {
        "model": "embed-v4.0",
        "texts": ["hello", "goodbye"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }
    query = PROVIDER.embeddings_request({"input": "q", "input_type": "search_query", "dimensions": 256}, DEPLOYMENT)
    assert json.loads(query.body)["input_type"] == "search_query" and json.loads(query.body)["output_dimension"] == 256
    result = PROVIDER.embeddings_response((FIXTURES / "embed.cohere.json").read_bytes(), DEPLOYMENT)
    answer = CreateEmbeddingResponse.model_validate(json.loads(result.body))
    assert [d.embedding for d in answer.data] == fixture("embed.cohere.json")["embeddings"]["float"]
    assert result.usage == Usage(2) and answer.usage.prompt_tokens == 2


def cohere_error(message: str) -> bytes:
    return json.dumps({"id": "5d2a5a5e-0b1c-4f3a-8d7e-9f0a1b2c3d4e", "message": message}).encode()


def test_errors_keep_cohere_message_and_retry_after() -> None:
    limited = PROVIDER.error(429, cohere_error("You are using a Trial key"), {"Retry-After": "12"}, DEPLOYMENT)
    assert isinstance(limited, UpstreamRateLimited) and limited.message == "cohere: You are using a Trial key"
    assert (limited.retry_after, limited.headers) == (12.0, {"retry-after": "12"})
    rejected = PROVIDER.error(
        422, cohere_error("invalid request: message must be at least 1 token long"), {}, DEPLOYMENT
    )
    assert isinstance(rejected, UpstreamRejected) and rejected.status == 422 and "1 token long" in rejected.message
    assert isinstance(PROVIDER.error(401, cohere_error("invalid api token"), {}, DEPLOYMENT), UpstreamAuthFailed)
