"""Each wire protocol's provider, what it can serve, and the deployment fields it owns.

The configuration asks this module while it loads, so that a mistake stops the start with its file and line:
`with_provider_settings` moves a deployment's provider-owned fields (Azure's `api_version` and `azure_deployment`)
into the settings model its provider declares, which validates them, and `check_mode` refuses a model group whose
mode a deployment's provider cannot serve (`mode: embedding` on a provider without embeddings). The gateway asks
it at start-up for one provider per wire protocol (`providers`).

A new provider is a module with its class (and its settings model, if it has fields of its own) and a line in
`PROVIDER_TYPES` (and `SETTINGS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from oneflow_ai.config.presets import (
    ANTHROPIC_WIRE,
    AZURE_WIRE,
    BEDROCK_WIRE,
    COHERE_WIRE,
    DEMO_WIRE,
    ELEVENLABS_WIRE,
    GOOGLE_WIRE,
    OPENAI_WIRE,
    PROVIDERS,
    STABILITY_WIRE,
    VERTEX_WIRE,
    wire_of,
)
from oneflow_ai.config.schema import Deployment, ProviderSettings
from oneflow_ai.providers.anthropic import AnthropicProvider
from oneflow_ai.providers.azure import AzureProvider, AzureSettings
from oneflow_ai.providers.base import CAPABILITIES, ChatProvider, Provider
from oneflow_ai.providers.bedrock import BedrockProvider, BedrockSettings
from oneflow_ai.providers.cohere.provider import CohereProvider
from oneflow_ai.providers.elevenlabs import ElevenLabsProvider
from oneflow_ai.providers.google.provider import GoogleProvider
from oneflow_ai.providers.google.vertex import VertexProvider, VertexSettings
from oneflow_ai.providers.openai import OpenAIProvider
from oneflow_ai.providers.stability import StabilityProvider

PROVIDER_TYPES: Mapping[str, type[ChatProvider]] = MappingProxyType(
    {
        OPENAI_WIRE: OpenAIProvider,
        DEMO_WIRE: OpenAIProvider,  # the demo transport answers OpenAI's wire format
        AZURE_WIRE: AzureProvider,
        ANTHROPIC_WIRE: AnthropicProvider,
        BEDROCK_WIRE: BedrockProvider,
        GOOGLE_WIRE: GoogleProvider,
        VERTEX_WIRE: VertexProvider,
        COHERE_WIRE: CohereProvider,
    }
)
"""The provider of each wire protocol (`config.presets.wire_of` gives a provider name's)."""

SETTINGS: Mapping[str, type[ProviderSettings]] = MappingProxyType(
    {AZURE_WIRE: AzureSettings, BEDROCK_WIRE: BedrockSettings, VERTEX_WIRE: VertexSettings}
)
"""The settings model of each wire protocol whose provider has deployment fields of its own."""

MODE_CAPABILITY: Mapping[str, str] = MappingProxyType(
    {
        "chat": "chat",
        "embedding": "embeddings",
        "image_generation": "images",
        "audio_speech": "speech",
        "audio_transcription": "transcription",
    }
)
"""The capability a model group's `mode` needs of each of its deployments' providers."""


def providers() -> dict[str, ChatProvider]:
    """One provider for each wire protocol (one object for the wires that share a provider)."""
    made: dict[type[ChatProvider], ChatProvider] = {}
    return {wire: made.setdefault(kind, kind()) for wire, kind in PROVIDER_TYPES.items()}


MEDIA_PROVIDER_TYPES: Mapping[str, type[Provider]] = MappingProxyType(
    {STABILITY_WIRE: StabilityProvider, ELEVENLABS_WIRE: ElevenLabsProvider}
)
"""The providers of the wire protocols that have no chat (images or speech only)."""


def media_providers() -> dict[str, Provider]:
    """One provider of each of `MEDIA_PROVIDER_TYPES`' wires."""
    return {wire: kind() for wire, kind in MEDIA_PROVIDER_TYPES.items()}


def can_serve(provider: str, mode: str) -> bool:
    wire = wire_of(provider)
    kind = PROVIDER_TYPES[wire] if wire in PROVIDER_TYPES else MEDIA_PROVIDER_TYPES[wire]
    return issubclass(kind, CAPABILITIES[MODE_CAPABILITY[mode]])


def check_mode(mode: str, deployments: Sequence[Deployment]) -> None:
    """Refuse (`ValidationError`, at each deployment's `provider`) the deployments whose provider cannot serve a
    model group's `mode`."""
    errors = [
        _error(
            ("deployments", i, "provider"),
            f"provider {d.provider} cannot serve a model group of mode {mode} (it has no {MODE_CAPABILITY[mode]})",
            d.provider,
        )
        for i, d in enumerate(deployments)
        if not can_serve(d.provider, mode)
    ]
    if errors:
        raise ValidationError.from_exception_data("ModelGroup", errors)


def with_provider_settings(data: Any) -> Any:
    """A deployment as written (`data`), with the fields its provider owns moved into `provider_settings`, where its
    provider's model validates them (errors name each field as written); a field another provider owns is refused."""
    if not isinstance(data, dict) or data.get("provider") not in PROVIDERS:
        return data  # not a deployment as written, or an unknown provider (which the `provider` field refuses)
    provider = data["provider"]
    own = SETTINGS.get(wire_of(provider))
    foreign = [
        _error((key,), f"a setting of provider {', '.join(owners)}, not of {provider}", data[key])
        for key in data
        if (owners := _owners(key)) and (own is None or key not in own.model_fields)
    ]
    if foreign:
        raise ValidationError.from_exception_data("Deployment", foreign)
    if own is None:
        return data
    nested = data.get("provider_settings")
    if isinstance(nested, ProviderSettings):
        return data  # validated already
    fields = {key: data[key] for key in own.model_fields if key in data}
    rest = {key: value for key, value in data.items() if key not in fields}
    given = nested if isinstance(nested, dict) else {}
    return {**rest, "provider_settings": own.model_validate({**given, **fields})}


def _owners(key: str) -> list[str]:
    """The providers whose settings model has the field `key`."""
    return [p for p in PROVIDERS if (model := SETTINGS.get(wire_of(p))) is not None and key in model.model_fields]


def _error(loc: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("provider", message), loc=loc, input=value)
