"""OpenAI's embeddings shapes for the providers that translate them (Gemini, Cohere): the texts of a request's
`input`, and the `list` answer built from the vectors, as floats or as base64 (little-endian float32, which is
what the `openai` SDK asks for by default and decodes)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

import orjson

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.providers.base import ProviderResult


def input_texts(body: dict[str, Any]) -> list[str]:
    """`input` as a list of texts; token arrays are refused (400), as these providers take text."""
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise InvalidRequest("input: must be a non-empty string or an array of non-empty strings", param="input")
    return texts


def encoding_of(body: dict[str, Any]) -> str:
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise InvalidRequest("encoding_format: must be float or base64", param="encoding_format")
    return str(encoding)


def embedding_list(vectors: Sequence[Sequence[float]], model: str, prompt_tokens: int) -> dict[str, Any]:
    """OpenAI's embeddings answer, in floats (`as_requested` gives base64 when the client asked for it)."""
    data = [{"object": "embedding", "index": i, "embedding": list(vector)} for i, vector in enumerate(vectors)]
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def _base64(vector: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def as_requested(result: ProviderResult, body: dict[str, Any]) -> ProviderResult:
    """An embeddings answer in the `encoding_format` the client asked for: a provider that translates (one whose
    `float_embeddings` is true) answers floats, which become base64 when that was asked. (An OpenAI-compatible
    answer is relayed as it came.)"""
    parsed = result.parsed
    if body.get("encoding_format") != "base64" or not isinstance(parsed, dict):
        return result
    data = parsed.get("data")
    if not isinstance(data, list) or not all(
        isinstance(d, dict) and isinstance(d.get("embedding"), list) for d in data
    ):
        return result
    answer = {**parsed, "data": [{**d, "embedding": _base64(d["embedding"])} for d in data]}
    return ProviderResult(orjson.dumps(answer), result.usage, result.model, answer)
