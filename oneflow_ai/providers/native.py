"""A caller's own protocol, spoken natively by some deployments: the seam of `gateway.passthrough`.

A call whose caller speaks a protocol other than OpenAI chat completions (Anthropic's `/v1/messages`, OpenAI's
`/v1/responses`) carries its body in that protocol (`gateway.call.NativeBody`) with its `NativeProtocol`. A
deployment the protocol `serves` is sent the body untranslated and its answer goes back as it came; only the
accounting looks inside (`reply_usage`, and a `NativeStreamWatch` per stream). Every other deployment is sent the
call's OpenAI chat body, and the route translates the answer back. The implementations are
`anthropic_native.ANTHROPIC_MESSAGES` and `openai_responses.OPENAI_RESPONSES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from oneflow_ai.config.schema import Deployment
from oneflow_ai.providers.base import Usage
from oneflow_ai.upstream.decoders import StreamEvent
from oneflow_ai.upstream.wire import UpstreamRequest


class NativeStreamWatch(Protocol):
    """Watches a native stream go by, for the accounting."""

    usage: Usage | None
    """The usage the upstream reported so far (cumulative), if any."""
    model: str | None
    stopped: bool
    """The stream reached its protocol's end (Anthropic's `message_stop`, a Responses terminal event)."""
    error: str | None
    """The upstream's own error event's message, when it sent one."""

    def feed(self, event: StreamEvent) -> None: ...

    def completion_text(self) -> str:
        """The text produced so far: counted when the upstream reported no usage, or the stream broke off."""
        ...


class NativeProtocol(Protocol):
    name: str
    """The protocol's name: `NativeBody.wire`, and the `wire` of a reply a deployment served natively."""

    def serves(self, deployment: Deployment) -> bool:
        """The deployment speaks this protocol: it is sent the caller's body untranslated."""
        ...

    def request(
        self, body: Mapping[str, Any], deployment: Deployment, headers: Mapping[str, str], *, stream: bool
    ) -> UpstreamRequest:
        """The caller's body for the deployment (`model` set to its own), to be authorised by its `Auth`."""
        ...

    def reply_usage(self, payload: bytes, provider: str) -> tuple[Usage | None, str | None]:
        """The usage and model of a complete answer; `UpstreamError` if the payload is not one."""
        ...

    def watch(self) -> NativeStreamWatch: ...

    def stream_error(self, message: str) -> bytes:
        """The event that ends a stream the gateway cut or the upstream broke off, in this protocol."""
        ...
