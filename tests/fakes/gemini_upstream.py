"""A fake Gemini API and Vertex AI speaking Google's wire format: `models/{model}:generateContent`,
`:streamGenerateContent?alt=sse` (`data: {...}` events framed by CRLF CRLF, no `[DONE]`), `:embedContent`,
`:batchEmbedContents`, Vertex's `:predict` for embeddings, and Google's error body
`{"error": {"code", "message", "status", "details"}}`.

The Gemini API routes (`/v1beta/models/...`) want `x-goog-api-key: require_key`; the Vertex routes
(`/v1/projects/{p}/locations/{l}/publishers/google/models/...`) want `authorization: Bearer <token>` with a token in
`tokens` (the fake OAuth server issues them). Model `gemini-429` answers 429 RESOURCE_EXHAUSTED with a RetryInfo
of `RETRY_DELAY_S`; anything else answers, with a function call when the request declares functions. Each request is
kept in `received`: path, headers, body.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PROMPT_TOKENS = 11
CACHED_TOKENS = 4
CANDIDATES_TOKENS = 7
THOUGHTS_TOKENS = 5
TEXT_PIECES = ("Hello", " from fake", " Gemini.")
TEXT = "".join(TEXT_PIECES)
RETRY_DELAY_S = 7
VECTOR = [0.5, -0.25, 0.125]
PREDICT_TOKENS = 3
"""Each `:predict` instance's `statistics.token_count`."""


def usage(final: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "promptTokenCount": PROMPT_TOKENS,
        "totalTokenCount": PROMPT_TOKENS,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}],
        "cachedContentTokenCount": CACHED_TOKENS,
    }
    if final:
        out["candidatesTokenCount"] = CANDIDATES_TOKENS
        out["thoughtsTokenCount"] = THOUGHTS_TOKENS
        out["totalTokenCount"] = PROMPT_TOKENS + CANDIDATES_TOKENS + THOUGHTS_TOKENS
    return out


def error(code: int, status: str, message: str, details: list[Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        body["details"] = details
    return web.json_response({"error": body}, status=code)


class GeminiUpstream:
    def __init__(self, *, require_key: str | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.require_key = require_key
        self.tokens: set[str] = set()
        self.app = web.Application()
        self.app.router.add_post("/v1beta/models/{call}", self.gemini_api)
        self.app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{call}", self.vertex
        )

    async def gemini_api(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("x-goog-api-key") != self.require_key:
            return error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
        return await self.serve(request)

    async def vertex(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        return await self.serve(request)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.received.append({"path": request.path_qs, "headers": headers, "body": body})
        model, _, method = request.match_info["call"].partition(":")
        if model == "gemini-429":
            retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{RETRY_DELAY_S}s"}]
            return error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", retry)
        if method == "embedContent":
            return web.json_response({"embedding": {"values": VECTOR}})
        if method == "predict":  # Vertex AI's embedding models
            statistics = {"truncated": False, "token_count": PREDICT_TOKENS}
            predictions = [{"embeddings": {"statistics": statistics, "values": VECTOR}} for _ in body["instances"]]
            characters = sum(len(i["content"]) for i in body["instances"])
            return web.json_response({"predictions": predictions, "metadata": {"billableCharacterCount": characters}})
        if method == "batchEmbedContents":
            return web.json_response({"embeddings": [{"values": VECTOR} for _ in body["requests"]]})
        if "contents" not in body:
            return error(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified")
        declarations = [d for tool in body.get("tools") or () for d in tool.get("functionDeclarations") or ()]
        if method == "streamGenerateContent" and request.query.get("alt") == "sse":
            return await self.stream(request, model, declarations)
        if method != "generateContent":
            return error(404, "NOT_FOUND", f"method {method} not found")
        return web.json_response(self.response(model, declarations, TEXT, final=True))

    def response(self, model: str, declarations: list[Any], text: str, *, final: bool) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        if declarations and final:
            parts.append({"functionCall": {"name": declarations[0]["name"], "args": {"city": "Paris"}}})
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if final:
            candidate["finishReason"] = "STOP"
        return {
            "candidates": [candidate],
            "usageMetadata": usage(final),
            "modelVersion": model,
            "responseId": "fake-response-1",
        }

    async def stream(self, request: web.Request, model: str, declarations: list[Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for n, piece in enumerate(TEXT_PIECES):
            event = self.response(model, declarations, piece, final=n == len(TEXT_PIECES) - 1)
            await response.write(b"data: " + json.dumps(event).encode() + b"\r\n\r\n")
        await response.write_eof()
        return response
