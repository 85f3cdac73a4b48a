"""A fake Amazon Bedrock runtime speaking Converse and ConverseStream on the wire as AWS does.

Every request must be signed with AWS Signature Version 4 for the fake's region and the `bedrock` service: the fake
checks it as the service would, with the same library the signer uses (botocore): it reads the credential scope
and the signed headers from `Authorization`, rebuilds the canonical request from what it received (method, path as
sent, those headers, the body's SHA-256, `x-amz-date`) and recomputes the signature with the secret it knows for
that access key. An unknown key answers 403 `UnrecognizedClientException`, a wrong signature (a wrong secret, a
changed body) 403 `InvalidSignatureException`, each with Bedrock's error body (`{"message": ...}`) and its type in
`x-amzn-errortype`.

`/model/{modelId}/converse` answers JSON; `/converse-stream` answers `application/vnd.amazon.eventstream`, each
event one binary message (`tests.fakes.event_stream`, with its CRCs). With tools offered and the last turn the
user's own words, the model calls the first tool (`{"sign": "WZPZ"}`); otherwise it answers `TEXT`. A request with
a system prompt reads `CACHE_READ` tokens from the prompt cache (reported as `cacheReadInputTokens`). A model id
containing `throttled` answers 429 `ThrottlingException`; `stream-error` streams a first delta, then a
`modelStreamErrorException`. Each request is kept in `received` (its raw path, headers, parsed body).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes import event_stream

REGION = "us-east-1"
TEXT = "Hello from fake Bedrock."
PIECES = ("Hello", " from fake", " Bedrock.")
INPUT_TOKENS = 31
OUTPUT_TOKENS = 12
CACHE_READ = 1024
TOOL_INPUT = ('{"sign": ', '"WZPZ"}')
MAX_SKEW_S = 300
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


def error(status: int, kind: str, message: str) -> web.Response:
    headers = {
        "x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-requestid": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
    }
    return web.json_response({"message": message}, status=status, headers=headers)


class BedrockUpstream:
    def __init__(self, credentials: dict[str, tuple[str, str | None]], *, region: str = REGION) -> None:
        """`credentials`: access key id -> (secret, session token or None)."""
        self.credentials = credentials
        self.region = region
        self.received: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/model/{model_id}/converse", self.converse)
        self.app.router.add_post("/model/{model_id}/converse-stream", self.converse_stream)

    def refused(self, request: web.Request, body: bytes) -> web.Response | None:
        """Bedrock's 403 when the request is not signed by a known key with its secret, else None."""
        fields = _authorization(request.headers.get("Authorization", ""))
        if fields is None:
            return error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        key, date, region, service, _ = fields["Credential"].split("/", 4)
        known = self.credentials.get(key)
        if known is None:
            return error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        secret, token = known
        if token is not None and request.headers.get("X-Amz-Security-Token") != token:
            return error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        amz_date = request.headers.get("X-Amz-Date", "")
        if (region, service) != (self.region, "bedrock") or not amz_date.startswith(date):
            return error(403, "InvalidSignatureException", f"Credential should be scoped to {self.region}/bedrock.")
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        if abs(time.time() - signed_at) > MAX_SKEW_S:
            return error(403, "InvalidSignatureException", "Signature expired: the request is too old.")
        names = fields["SignedHeaders"].split(";")
        headers = {name: request.headers.get(name, "") for name in names}
        rebuilt = AWSRequest(
            method=request.method, url=f"http://{request.host}{request.raw_path}", data=body, headers=headers
        )
        rebuilt.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(key, secret, token), "bedrock", self.region)
        expected = signer.signature(signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)), rebuilt)
        if not hmac.compare_digest(expected, fields["Signature"]):
            return error(403, "InvalidSignatureException", SIGNATURE_MISMATCH)
        return None

    async def _accept(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        raw = await request.read()
        if (refusal := self.refused(request, raw)) is not None:
            return None, refusal
        body = orjson.loads(raw)
        self.received.append(
            {"path": request.raw_path, "headers": {k.lower(): v for k, v in request.headers.items()}, "body": body}
        )
        if "throttled" in request.match_info["model_id"]:
            return None, error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
        messages = body.get("messages") or []
        if not messages or messages[0].get("role") != "user":
            return None, error(400, "ValidationException", "A conversation must start with a user message.")
        uses_tools = any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])
        if uses_tools and "toolConfig" not in body:
            return None, error(
                400,
                "ValidationException",
                "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
            )
        return body, None

    async def converse(self, request: web.Request) -> web.Response:
        body, refusal = await self._accept(request)
        if body is None:
            assert refusal is not None
            return refusal
        tool = _tool_to_call(body)
        content: list[dict[str, Any]] = [{"text": TEXT}]
        if tool is not None:
            content = [{"toolUse": {"toolUseId": "tooluse_fake1", "name": tool, "input": {"sign": "WZPZ"}}}]
        return web.json_response(
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": "tool_use" if tool else "end_turn",
                "usage": _usage(body),
                "metrics": {"latencyMs": 321},
            },
            headers={"x-amzn-requestid": "a1b2c3d4-5678-90ab-cdef-EXAMPLE22222"},
        )

    async def converse_stream(self, request: web.Request) -> web.StreamResponse:
        body, refusal = await self._accept(request)
        if body is None:
            assert refusal is not None
            return refusal
        response = web.StreamResponse(
            headers={
                "content-type": "application/vnd.amazon.eventstream",
                "x-amzn-requestid": "a1b2c3d4-5678-90ab-cdef-EXAMPLE33333",
            }
        )
        await response.prepare(request)
        tool = _tool_to_call(body)
        messages = [event_stream.event("messageStart", {"role": "assistant"})]
        if tool is not None:
            start = {"toolUse": {"toolUseId": "tooluse_fake2", "name": tool}}
            messages.append(event_stream.event("contentBlockStart", {"contentBlockIndex": 0, "start": start}))
            for piece in TOOL_INPUT:
                delta = {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}}
                messages.append(event_stream.event("contentBlockDelta", delta))
        else:
            for piece in PIECES:
                messages.append(
                    event_stream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
                )
        if "stream-error" in request.match_info["model_id"]:
            messages = [*messages[:2], event_stream.exception("modelStreamErrorException", "The model stopped.")]
        else:
            messages += [
                event_stream.event("contentBlockStop", {"contentBlockIndex": 0}),
                event_stream.event("messageStop", {"stopReason": "tool_use" if tool else "end_turn"}),
                event_stream.event("metadata", {"usage": _usage(body), "metrics": {"latencyMs": 321}}),
            ]
        for i, message in enumerate(messages):
            if i == 1:  # one message split across two writes, as a network may deliver it
                await response.write(message[:7])
                await asyncio.sleep(0.001)
                message = message[7:]
            await response.write(message)
        await response.write_eof()
        return response


def _authorization(value: str) -> dict[str, str] | None:
    algorithm, _, rest = value.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return None
    fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    return fields if {"Credential", "SignedHeaders", "Signature"} <= fields.keys() else None


def _tool_to_call(body: dict[str, Any]) -> str | None:
    tools = (body.get("toolConfig") or {}).get("tools") or []
    last = body["messages"][-1]["content"]
    if not tools or any("toolResult" in block for block in last):
        return None
    return str(tools[0]["toolSpec"]["name"])


def _usage(body: dict[str, Any]) -> dict[str, int]:
    read = CACHE_READ if body.get("system") else 0
    return {
        "inputTokens": INPUT_TOKENS,
        "outputTokens": OUTPUT_TOKENS,
        "totalTokens": INPUT_TOKENS + OUTPUT_TOKENS + read,
        "cacheReadInputTokens": read,
        "cacheWriteInputTokens": 0,
    }
