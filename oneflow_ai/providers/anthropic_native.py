"""Anthropic to Anthropic: a `POST /v1/messages` call served by an Anthropic deployment, untranslated.

The caller's body goes upstream as it came (its `model` set to the deployment's), with the caller's
`anthropic-version` and `anthropic-beta` headers (and the credential, which the deployment's `Auth` adds); the
answer comes back as it came. Only the accounting looks inside: the usage of a `message` (`message_usage`), or of
a stream's `message_start` and `message_delta` events (`MessagesStreamWatch`), cache reads and writes included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.config.presets import ANTHROPIC_WIRE
from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.anthropic import API_VERSION
from oneflow_ai.providers.anthropic_inbound import error_event
from oneflow_ai.providers.anthropic_stream import usage_of
from oneflow_ai.providers.base import Usage
from oneflow_ai.upstream.sse import SSEEvent
from oneflow_ai.upstream.wire import UpstreamRequest

CLIENT_HEADERS = ("anthropic-version", "anthropic-beta")
"""The caller's headers that go upstream with its body: they say how the body is to be read."""


def messages_request(
    body: Mapping[str, Any], deployment: Deployment, client_headers: Mapping[str, str]
) -> UpstreamRequest:
    """The caller's Messages body for the deployment (to be authorised by its `Auth`, as any request);
    `client_headers` are the caller's `CLIENT_HEADERS`. The deployment's own headers (its config) win over the
    caller's."""
    headers = {"content-type": "application/json", "anthropic-version": API_VERSION, **client_headers}
    headers.update(deployment.headers)
    payload = orjson.dumps({**body, "model": deployment.model})
    url = f"{deployment.url}/v1/messages"
    return UpstreamRequest("POST", url, headers, payload, deployment.timeouts, deployment.provider)


def message_usage(payload: bytes, provider: str) -> tuple[Usage | None, str | None]:
    """The usage and model of an Anthropic `message`; `UpstreamError` if the payload is not one."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or parsed.get("type") != "message":
        raise UpstreamError(f"{provider} sent a response that is not a message", provider=provider)
    model = parsed.get("model")
    return usage_of(parsed.get("usage")), model if isinstance(model, str) else None


class MessagesStreamWatch:
    """Watches an Anthropic Messages stream go by, for the accounting: its usage (`message_start` and
    `message_delta` report cumulative counts), whether it ended (`message_stop`) or failed (`error`), and the
    text produced, kept as the raw delta events and read only when it has to be counted."""

    __slots__ = ("_counts", "_deltas", "error", "model", "stopped", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.model: str | None = None
        self.stopped = False
        self.error: str | None = None
        self._counts: dict[str, int] = {}
        self._deltas: list[bytes] = []

    def feed(self, event: SSEEvent) -> None:
        name = event.event
        if name == "content_block_delta":
            self._deltas.append(event.data)
        elif name == "message_stop":
            self.stopped = True
        elif name in ("message_start", "message_delta", "error") or name is None:
            self._look(event.data)

    def _look(self, data: bytes) -> None:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(parsed, dict):
            return
        kind = parsed.get("type")
        if kind == "message_start":
            message = parsed.get("message") or {}
            model = message.get("model")
            self.model = model if isinstance(model, str) else None
            self._note(message.get("usage"))
        elif kind == "message_delta":
            self._note(parsed.get("usage"))
        elif kind == "error":
            error = parsed.get("error") or {}
            self.error = str(error.get("message") or error.get("type") or "stream error")
        elif kind == "content_block_delta":
            self._deltas.append(data)
        elif kind == "message_stop":
            self.stopped = True

    def _note(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._counts.update({k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)})
            self.usage = usage_of(self._counts)

    def completion_text(self) -> str:
        """The text (and tool input, and thinking) produced so far."""
        out: list[str] = []
        for data in self._deltas:
            try:
                delta = orjson.loads(data).get("delta") or {}
            except (orjson.JSONDecodeError, AttributeError):
                continue
            for key in ("text", "partial_json", "thinking"):
                piece = delta.get(key) if isinstance(delta, dict) else None
                if isinstance(piece, str):
                    out.append(piece)
        return "".join(out)


class AnthropicMessages:
    """Anthropic's Messages API as a `providers.native.NativeProtocol`: an Anthropic deployment serves it."""

    name = ANTHROPIC_WIRE

    def serves(self, deployment: Deployment) -> bool:
        return deployment.wire == ANTHROPIC_WIRE

    def request(
        self, body: Mapping[str, Any], deployment: Deployment, headers: Mapping[str, str], *, stream: bool
    ) -> UpstreamRequest:
        return messages_request({**body, "stream": True} if stream else body, deployment, headers)

    def reply_usage(self, payload: bytes, provider: str) -> tuple[Usage | None, str | None]:
        return message_usage(payload, provider)

    def watch(self) -> MessagesStreamWatch:
        return MessagesStreamWatch()

    def stream_error(self, message: str) -> bytes:
        return error_event(message, "api_error")


ANTHROPIC_MESSAGES = AnthropicMessages()
