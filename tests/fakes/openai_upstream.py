"""A fake OpenAI-compatible upstream speaking OpenAI's exact wire format (and Azure's URL scheme).

What it does is chosen by the upstream model name in the request:
  fake-error-500  500 with an OpenAI error body      fake-429      429 with Retry-After, x-ratelimit-*
  fake-400        400 invalid_request_error          fake-context  400 context_length_exceeded
  fake-hang       never answers                      fake-nousage  stream without a usage chunk
  fake-slow-stream  streams a word every 50 ms for 10 s (`cancelled` counts clients that left early)
  fake-cut-stream   streams two chunks, then drops the connection (no terminating chunk, no [DONE])
anything else answers normally (with tool calls when the request offers tools and does not forbid them).
`POST /v1/responses` speaks OpenAI's Responses API (`tests.fakes.openai_responses`).
Body fields script any model: `fake_delay_s` waits that long before answering; `fake_slow_stream: true`
streams like fake-slow-stream (both for billing tests: requests in flight, streams aborted mid-way);
`fake_retry_after` is fake-429's Retry-After.
Every request is kept in `received` for assertions.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.fakes import openai_responses

REPLY = "Hello from the fake upstream."
PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7
RATE_LIMITED = {
    "retry-after": "1",
    "x-ratelimit-limit-requests": "60",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "1s",
}


def error(
    status: int,
    message: str,
    type_: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def usage() -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def wants_tools(body: dict[str, Any]) -> bool:
    return bool(body.get("tools")) and body.get("tool_choice") != "none"


TOOL_CALL = {
    "id": "call_abc123",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


class OpenAIUpstream:
    def __init__(self, *, require_key: str | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.cancelled = 0
        self.require_key = require_key
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_post("/v1/embeddings", self.embeddings)
        self.app.router.add_post("/openai/deployments/{deployment}/chat/completions", self.chat)
        self.app.router.add_post("/v1/responses", self.responses)

    async def responses(self, request: web.Request) -> web.StreamResponse:
        """OpenAI's Responses API (`tests.fakes.openai_responses`); each request's raw bytes are kept too."""
        raw = await request.read()
        body = json.loads(raw)
        self.received.append({"path": request.path_qs, "headers": dict(request.headers), "body": body, "raw": raw})
        if self.require_key and request.headers.get("authorization") != f"Bearer {self.require_key}":
            return error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if body.get("model") == "fake-error-500":
            return error(500, "The server had an error while processing your request.", "server_error")
        if body.get("stream"):
            return await openai_responses.stream(request, body)
        return openai_responses.complete(body)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append({"path": request.path_qs, "headers": dict(request.headers), "body": body})
        if (
            self.require_key
            and request.headers.get("authorization") != f"Bearer {self.require_key}"
            and request.headers.get("api-key") != self.require_key
        ):
            given = (request.headers.get("authorization") or "").removeprefix("Bearer ")
            shown = f"{given[:8]}{'*' * max(0, len(given) - 12)}{given[-4:]}"  # as OpenAI masks it
            message = (
                f"Incorrect API key provided: {shown}. "
                "You can find your API key at https://platform.openai.com/account/api-keys."
            )
            return error(401, message, "invalid_request_error", "invalid_api_key")
        model = body.get("model")
        if model == "fake-error-500":
            return error(500, "The server had an error while processing your request.", "server_error")
        if model == "fake-429":
            wait = {"retry-after": str(body["fake_retry_after"])} if "fake_retry_after" in body else {}
            return error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", RATE_LIMITED | wait)
        if model == "fake-400":
            return error(
                400,
                "Invalid value for 'temperature': must be at most 2.",
                "invalid_request_error",
                "invalid_value",
                param="temperature",
            )
        if model == "fake-context":
            return error(
                400,
                "This model's maximum context length is 8192 tokens.",
                "invalid_request_error",
                "context_length_exceeded",
                param="messages",
            )
        if model == "fake-hang":
            await asyncio.sleep(3600)
        if body.get("fake_delay_s"):
            await asyncio.sleep(float(body["fake_delay_s"]))
        if model == "fake-slow-stream" or body.get("fake_slow_stream"):
            return await self.slow_stream(request, body)
        if model == "fake-cut-stream":
            return await self.cut_stream(request, body)
        if body.get("stream"):
            return await self.stream(request, body)
        message: dict[str, Any] = {"role": "assistant", "content": REPLY, "refusal": None}
        finish = "stop"
        if wants_tools(body):
            message = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL], "refusal": None}
            finish = "tool_calls"
        n = body.get("n") or 1
        return web.json_response(
            {
                "id": "chatcmpl-fake1",
                "object": "chat.completion",
                "created": 1700000000,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n)
                ],
                "usage": usage(),
            }
        )

    async def stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        )
        await response.prepare(request)
        include_usage = (
            bool((body.get("stream_options") or {}).get("include_usage")) and body["model"] != "fake-nousage"
        )
        base = {
            "id": "chatcmpl-fake2",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {**base, "choices": choices, **extra}
            if include_usage and "usage" not in extra:
                chunk["usage"] = None
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}]
        )
        if wants_tools(body):
            first = {
                "index": 0,
                "id": TOOL_CALL["id"],
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
            await send([{"index": 0, "delta": {"tool_calls": [first]}, "logprobs": None, "finish_reason": None}])
            for piece in ('{"city"', ': "Par', 'is"}'):
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                await send([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])
            finish = "tool_calls"
        else:
            for word in REPLY.split(" "):
                piece = word if word == REPLY.split(" ")[0] else " " + word
                await send([{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
                await asyncio.sleep(0.001)
            finish = "stop"
        await send([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}])
        if include_usage:
            await send([], usage=usage())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def cut_stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-cut", "object": "chat.completion.chunk", "created": 1700000000, "model": body["model"]}
        for word in ("Hello", " there"):
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        assert request.transport is not None
        request.transport.close()  # the connection drops mid-stream: no terminating chunk, no [DONE]
        return response

    async def slow_stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1700000000, "model": body["model"]}
        try:
            for _ in range(200):
                chunk = {**base, "choices": [{"index": 0, "delta": {"content": "word "}, "finish_reason": None}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
                await asyncio.sleep(0.05)
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            raise
        await response.write(b"data: [DONE]\n\n")
        return response

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append({"path": request.path_qs, "headers": dict(request.headers), "body": body})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), -0.2, 0.3]} for i in range(len(inputs))
        ]
        return web.json_response(
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 5, "total_tokens": 5}}
        )
