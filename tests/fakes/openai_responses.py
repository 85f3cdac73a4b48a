"""OpenAI's Responses API as the fake OpenAI upstream speaks it (`POST /v1/responses`), in OpenAI's exact wire format:
the `response` object, and its SSE events (`event:` named, each with its `sequence_number`, no `[DONE]`).

It answers with a `function_call` item when the request offers function tools (and does not forbid them), else
one `message` item with `REPLY`. Model `fake-cut-stream` drops the connection after its first text delta.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

REPLY = "Hello from the fake Responses API."
INPUT_TOKENS = 13
CACHED_TOKENS = 4
OUTPUT_TOKENS = 8
REASONING_TOKENS = 2
ARGUMENTS = '{"location":"Paris, France"}'


def usage() -> dict[str, Any]:
    return {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "output_tokens": OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
    }


def calls_tool(body: dict[str, Any]) -> bool:
    tools = [t for t in body.get("tools") or () if t.get("type") == "function"]
    return bool(tools) and body.get("tool_choice") != "none"


def response(body: dict[str, Any], status: str, output: list[dict[str, Any]], with_usage: bool) -> dict[str, Any]:
    return {
        "id": "resp_fake1",
        "object": "response",
        "created_at": 1741476542,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage() if with_usage else None,
        "user": None,
        "metadata": {},
    }


def message(text: str) -> dict[str, Any]:
    content = [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]
    return {"id": "msg_fake1", "type": "message", "status": "completed", "role": "assistant", "content": content}


def function_call(arguments: str) -> dict[str, Any]:
    return {
        "id": "fc_fake1",
        "type": "function_call",
        "status": "completed",
        "arguments": arguments,
        "call_id": "call_fake1",
        "name": "get_weather",
    }


def complete(body: dict[str, Any]) -> web.Response:
    output = [function_call(ARGUMENTS)] if calls_tool(body) else [message(REPLY)]
    return web.json_response(response(body, "completed", output, with_usage=True))


async def stream(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    out = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"})
    await out.prepare(request)
    sequence = 0

    async def event(name: str, data: dict[str, Any]) -> None:
        nonlocal sequence
        payload = {"type": name, "sequence_number": sequence, **data}
        sequence += 1
        await out.write(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())

    started = response(body, "in_progress", [], with_usage=False)
    await event("response.created", {"response": started})
    await event("response.in_progress", {"response": started})
    if calls_tool(body):
        item = {**function_call(""), "status": "in_progress"}
        await event("response.output_item.added", {"output_index": 0, "item": item})
        for piece in ('{"location":', '"Paris, France"}'):
            where = {"item_id": "fc_fake1", "output_index": 0}
            await event("response.function_call_arguments.delta", {**where, "delta": piece})
        done = {"item_id": "fc_fake1", "output_index": 0, "name": "get_weather", "arguments": ARGUMENTS}
        await event("response.function_call_arguments.done", done)
        final = function_call(ARGUMENTS)
    else:
        where = {"item_id": "msg_fake1", "output_index": 0}
        item = {**message(""), "status": "in_progress", "content": []}
        await event("response.output_item.added", {"output_index": 0, "item": item})
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        await event("response.content_part.added", {**where, "content_index": 0, "part": part})
        for n, word in enumerate(REPLY.split(" ")):
            delta = word if n == 0 else " " + word
            await event("response.output_text.delta", {**where, "content_index": 0, "delta": delta, "logprobs": []})
            if body["model"] == "fake-cut-stream":
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-stream
                return out
        await event("response.output_text.done", {**where, "content_index": 0, "text": REPLY, "logprobs": []})
        await event("response.content_part.done", {**where, "content_index": 0, "part": {**part, "text": REPLY}})
        final = message(REPLY)
    await event("response.output_item.done", {"output_index": 0, "item": final})
    await event("response.completed", {"response": response(body, "completed", [final], with_usage=True)})
    await out.write_eof()
    return out
