"""The OpenAI wire protocol: request building, response parsing, the stream translator, error mapping."""

from __future__ import annotations

import orjson
import pytest

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import (
    ContextWindowExceeded,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
)
from oneflow_ai.providers.azure import AzureProvider
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.openai import OpenAIProvider, OpenAIStream
from oneflow_ai.upstream.sse import SSEParser

DEP = Deployment(provider="openai", model="gpt-4o", id="g/0")


def test_request_keeps_unknown_fields_and_asks_for_stream_usage() -> None:
    body = {"model": "gpt-4o", "messages": [], "seed": 1, "future_field": [1], "stream": True}
    req = OpenAIProvider().chat_request(body, DEP, stream=True)
    sent = orjson.loads(req.body)
    assert sent == {**body, "stream_options": {"include_usage": True}}
    assert req.url == "https://api.openai.com/v1/chat/completions"
    assert "authorization" not in req.headers  # translation sets no credential: the deployment's `Auth` does
    OpenAIProvider().auth(DEP, {"OPENAI_API_KEY": "sk-up"}).apply(req)
    assert req.headers["authorization"] == "Bearer sk-up"


def test_azure_request() -> None:
    dep = Deployment(
        provider="azure",
        model="gpt-4o",
        base_url="https://r.openai.azure.com/",
        api_version="2024-10-21",
        azure_deployment="prod",
        id="a/0",
    )
    req = AzureProvider().chat_request({"messages": []}, dep, stream=False)
    AzureProvider().auth(dep, {"AZURE_OPENAI_API_KEY": "k"}).apply(req)
    assert req.url == "https://r.openai.azure.com/openai/deployments/prod/chat/completions?api-version=2024-10-21"
    assert req.headers["api-key"] == "k" and "authorization" not in req.headers


def test_response_bytes_are_relayed_unchanged() -> None:
    raw = (
        b'{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,'
        b'"prompt_tokens_details":{"cached_tokens":1}}}'
    )
    result = OpenAIProvider().chat_response(raw, DEP)
    assert result.body is raw
    assert result.usage == Usage(3, 4, 1)


STREAM = (
    b"".join(
        b"data: " + orjson.dumps(c) + b"\n\n"
        for c in [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "usage": None},
            {"choices": [{"index": 0, "delta": {"content": "Hel"}}], "usage": None},
            {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}], "usage": None},
            {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}},
        ]
    )
    + b"data: [DONE]\n\n"
)


def run(stream: OpenAIStream) -> list[bytes]:
    out: list[bytes] = []
    for event in SSEParser().feed(STREAM):
        out += stream.feed(event)
    return out + stream.finish()


def test_stream_drops_the_usage_chunk_the_client_did_not_ask_for() -> None:
    stream = OpenAIStream(client_wants_usage=False)
    frames = run(stream)
    assert len(frames) == 4 and frames[-1] == b"data: [DONE]\n\n"
    assert all(b'"usage":{' not in f for f in frames)
    assert stream.usage == Usage(5, 2)
    assert stream.completion_text() == "Hello"


def test_stream_keeps_the_usage_chunk_when_asked() -> None:
    frames = run(OpenAIStream(client_wants_usage=True))
    assert len(frames) == 5 and b'"completion_tokens":2' in frames[3]


def test_a_count_given_at_the_end_is_sent_only_when_the_upstream_sent_no_usage() -> None:
    stream = OpenAIStream(client_wants_usage=True)
    assert len(run(stream)[:-1] + stream.finish(Usage(9, 9))) == 5  # the upstream's usage chunk, no second one
    silent = OpenAIStream(client_wants_usage=True)
    for event in SSEParser().feed(STREAM.replace(b"data: [DONE]", b"").split(b'data: {"choices":[],"usage":{')[0]):
        silent.feed(event)
    usage, done = silent.finish(Usage(5, 2, 1))
    assert done == b"data: [DONE]\n\n" and silent.usage is None
    chunk = orjson.loads(usage.removeprefix(b"data: "))
    assert chunk["choices"] == [] and chunk["object"] == "chat.completion.chunk"
    assert chunk["usage"] == Usage(5, 2, 1).to_openai()
    assert OpenAIStream(client_wants_usage=False).finish(Usage(5, 2)) == [b"data: [DONE]\n\n"]  # not asked


def test_error_mapping_keeps_the_upstream_message() -> None:
    p = OpenAIProvider()
    body = orjson.dumps(
        {
            "error": {
                "message": "bad temp",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": "invalid_value",
            }
        }
    )
    err = p.error(400, body, {}, DEP)
    assert isinstance(err, UpstreamRejected) and not err.retryable
    assert (err.status, err.code, err.param) == (400, "invalid_value", "temperature") and "bad temp" in err.message
    limited = p.error(429, b'{"error": {"message": "slow down"}}', {"retry-after": "2"}, DEP)
    assert isinstance(limited, UpstreamRateLimited) and limited.retryable and limited.retry_after == 2.0
    server = p.error(503, b"<html>oops</html>", {}, DEP)
    assert type(server) is UpstreamError and server.status == 502 and "oops" in server.message
    ctx = p.error(
        400, b'{"error": {"message": "maximum context length is 8192", "code": "context_length_exceeded"}}', {}, DEP
    )
    assert isinstance(ctx, ContextWindowExceeded) and ctx.retryable


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_provider_key_is_the_deployments_failure_without_the_upstream_message(status: int) -> None:
    body = orjson.dumps(
        {
            "error": {
                "message": "Incorrect API key provided: sk-proj-********abcd. You can find your API key at ...",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    )
    err = OpenAIProvider().error(status, body, {}, DEP)
    assert isinstance(err, UpstreamAuthFailed) and err.retryable and not err.deployment_retryable
    assert (err.status, err.type, err.code, err.param, err.upstream_status) == (
        502,
        "api_error",
        "upstream_auth_failed",
        None,
        status,
    )
    assert err.message == f"The provider rejected the gateway's credentials for deployment 'g/0' (HTTP {status})."
