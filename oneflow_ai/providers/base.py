"""The provider seam.

A provider is pure translation: it builds the upstream request from an OpenAI-format body, parses the
upstream's response or stream back into OpenAI format, and maps the upstream's error body to our error.
It does no I/O; the gateway sends what it builds through a `Transport`, once the deployment's `Auth` (which the
provider chose at start-up, `Provider.auth`) has authorised it: translation never touches a credential.

What a provider can do is a small protocol per capability (`ChatProvider`, `EmbeddingsProvider`,
`ImagesProvider`, `SpeechProvider`, `TranscriptionProvider`), never a stubbed method: a provider has the methods of
the capabilities it has, and `CAPABILITIES` is what the configuration checks a model group's deployments against at
load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import UpstreamError
from oneflow_ai.pricing.media import Metered
from oneflow_ai.providers.auth import Auth
from oneflow_ai.upstream.decoders import StreamDecoder, StreamEvent
from oneflow_ai.upstream.multipart import FormValue
from oneflow_ai.upstream.wire import UpstreamRequest


@dataclass(slots=True, frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """The part of `prompt_tokens` read from the provider's prompt cache (billed at the cached rate)."""
    cache_write_tokens: int = 0
    """The part of `prompt_tokens` written to the provider's prompt cache (Anthropic's `cache_creation_input_tokens`,
    billed above the input rate: see `PricingEngine.cost_of`)."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None) -> Usage | None:
        if type(usage) is not dict and not isinstance(usage, Mapping):  # parsed JSON is a dict: no ABC check
            return None
        details = usage.get("prompt_tokens_details") or {}
        cached = 0
        if type(details) is dict or isinstance(details, Mapping):
            cached = int(details.get("cached_tokens") or 0)
        return cls(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), cached)

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return out


@dataclass(slots=True)
class ProviderResult:
    """A parsed upstream answer: the OpenAI-format body to send to the client, and its usage."""

    body: bytes
    usage: Usage | None
    model: str | None = None
    parsed: Any = None
    """`body` as the provider parsed (or built) it, when it did: the reply keeps it (`JSONReply.json()`), so that a
    stage looking inside does not parse the body again."""
    metered: Metered | None = None
    """What a media call used (images, characters, seconds), priced by `pricing.media`; None for tokens alone."""
    content_type: str | None = None
    """The body's type when it is not JSON (a transcription as text, SRT or WebVTT)."""


class StreamTranslator(Protocol):
    """Turns the upstream's stream events (as its provider's `stream_decoder` decodes them) into OpenAI chunk frames
    (`b"data: {...}\\n\\n"`), keeping the usage."""

    usage: Usage | None

    def feed(self, event: StreamEvent) -> list[bytes]: ...

    def finish(self, counted: Usage | None = None) -> list[bytes]:
        """Frames to send once the upstream stream ended (the final `[DONE]` among them). `counted` is the
        gateway's own count, given when the client asked for the usage and the upstream reported none: it is
        sent as the usage chunk the client asked for."""
        ...

    def completion_text(self) -> str:
        """The text produced so far: counted when the upstream reported no usage, or the client left early."""
        ...


class Provider(Protocol):
    """What every provider does, whatever it serves: authorise its deployments' requests, map its errors."""

    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        """The deployment's `Auth`, built once at start-up: its key (`Deployment.resolve_key`) or other credential
        read from `environ` now, not per request."""
        ...

    def error(self, status: int, body: bytes, headers: Mapping[str, str], deployment: Deployment) -> UpstreamError: ...


@runtime_checkable
class ChatProvider(Provider, Protocol):
    def chat_request(self, body: dict[str, Any], deployment: Deployment, *, stream: bool) -> UpstreamRequest:
        """`body` is the client's OpenAI body with `model` already set to the upstream model."""
        ...

    def chat_response(self, body: bytes, deployment: Deployment) -> ProviderResult: ...

    def chat_stream(self, deployment: Deployment, *, client_wants_usage: bool) -> StreamTranslator: ...

    def stream_decoder(self, deployment: Deployment) -> StreamDecoder:
        """A new decoder of the deployment's stream wire format (`upstream.decoders`): SSE, JSON lines..."""
        ...


@runtime_checkable
class EmbeddingsProvider(Provider, Protocol):
    def embeddings_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest: ...

    def embeddings_response(self, body: bytes, deployment: Deployment) -> ProviderResult: ...


@runtime_checkable
class ImagesProvider(Provider, Protocol):
    def images_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        """`body` is OpenAI's `images/generations` body with `model` set to the upstream model."""
        ...

    def images_response(self, body: bytes, deployment: Deployment, *, response_format: str) -> ProviderResult:
        """OpenAI's images answer (`data[]` of `b64_json` or `url`, as `response_format` asks), metered in images."""
        ...


@runtime_checkable
class SpeechProvider(Provider, Protocol):
    def speech_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        """`body` is OpenAI's `audio/speech` body with `model` set to the upstream model; the upstream answers the
        audio itself, which is relayed to the client as it arrives."""
        ...


@runtime_checkable
class TranscriptionProvider(Provider, Protocol):
    def transcription_request(self, parts: Sequence[tuple[str, FormValue]], deployment: Deployment) -> UpstreamRequest:
        """`parts` are OpenAI's `audio/transcriptions` form (the file among them), `model` set to the upstream's."""
        ...

    def transcription_response(self, body: bytes, content_type: str, deployment: Deployment) -> ProviderResult:
        """OpenAI's answer in the format asked (JSON, or text with `content_type`), metered in seconds when the
        upstream said how long the audio was (else `metered` is None and the gateway measures the file)."""
        ...


CAPABILITIES: Mapping[str, type] = MappingProxyType(
    {
        "chat": ChatProvider,
        "embeddings": EmbeddingsProvider,
        "images": ImagesProvider,
        "speech": SpeechProvider,
        "transcription": TranscriptionProvider,
    }
)
"""A capability's name (as `api.operations.Capability` names it) and the protocol a provider has to have it."""


def keep_rate_limit(error: UpstreamError, headers: Mapping[str, str]) -> UpstreamError:
    """The upstream's `Retry-After` (for the gateway's backoff) and its `Retry-After` and `x-ratelimit-*` headers
    as they were sent, for the client: answered with the error when no deployment serves the call."""
    error.retry_after = retry_after_seconds(headers)
    kept = {name.lower(): value for name, value in headers.items() if _is_rate_limit(name.lower())}
    if kept:
        error.headers = {**error.headers, **kept}
    return error


def _is_rate_limit(name: str) -> bool:
    return name == "retry-after" or name.startswith("x-ratelimit-")


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
