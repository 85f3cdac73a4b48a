"""OpenAI-compatible upstreams are data, not code: a provider name maps to its base URL and key variable."""

from __future__ import annotations

from typing import NamedTuple


class Preset(NamedTuple):
    base_url: str
    api_key_env: str | None


# The wire protocol each provider name speaks.
OPENAI_WIRE = "openai"
ANTHROPIC_WIRE = "anthropic"
AZURE_WIRE = "azure"
DEMO_WIRE = "demo"
STABILITY_WIRE = "stability"
ELEVENLABS_WIRE = "elevenlabs"
BEDROCK_WIRE = "bedrock"
GOOGLE_WIRE = "google"
VERTEX_WIRE = "vertex_ai"
COHERE_WIRE = "cohere"

OPENAI_COMPATIBLE: dict[str, Preset] = {
    "openai": Preset("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "groq": Preset("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "mistral": Preset("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "together": Preset("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "deepseek": Preset("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "fireworks": Preset("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "openrouter": Preset("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "perplexity": Preset("https://api.perplexity.ai", "PERPLEXITYAI_API_KEY"),
    "gemini": Preset("https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY"),
    "vllm": Preset("http://127.0.0.1:8001/v1", None),
    "ollama": Preset("http://127.0.0.1:11434/v1", None),
    "openai_compatible": Preset("", None),
}

OTHER_PROVIDERS: dict[str, tuple[str, Preset]] = {
    "anthropic": (ANTHROPIC_WIRE, Preset("https://api.anthropic.com", "ANTHROPIC_API_KEY")),
    "azure": (AZURE_WIRE, Preset("", "AZURE_OPENAI_API_KEY")),
    "demo": (DEMO_WIRE, Preset("demo://local", None)),
    "bedrock": (BEDROCK_WIRE, Preset("", None)),  # the endpoint is its region's: see providers/bedrock
    "google": (GOOGLE_WIRE, Preset("https://generativelanguage.googleapis.com", "GEMINI_API_KEY")),
    "vertex_ai": (VERTEX_WIRE, Preset("", None)),  # the endpoint is its location's: see providers/google/vertex
    "cohere": (COHERE_WIRE, Preset("https://api.cohere.com", "COHERE_API_KEY")),
    "stability": (STABILITY_WIRE, Preset("https://api.stability.ai", "STABILITY_API_KEY")),
    "elevenlabs": (ELEVENLABS_WIRE, Preset("https://api.elevenlabs.io", "ELEVENLABS_API_KEY")),
}

PROVIDERS = sorted([*OPENAI_COMPATIBLE, *OTHER_PROVIDERS])


def wire_of(provider: str) -> str:
    if provider in OPENAI_COMPATIBLE:
        return OPENAI_WIRE
    return OTHER_PROVIDERS[provider][0]


def preset_of(provider: str) -> Preset:
    if provider in OPENAI_COMPATIBLE:
        return OPENAI_COMPATIBLE[provider]
    return OTHER_PROVIDERS[provider][1]
