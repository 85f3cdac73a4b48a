"""OpenAI embeddings as Cohere's embed v2 (`POST /v2/embed`), and back.

`input` is Cohere's `texts`; `input_type` is `search_document` unless the client's body names another
(`search_query`, `classification`, `clustering`: through the `openai` SDK's `extra_body`); `embedding_types` is
`["float"]`; `dimensions` is `output_dimension`. The answer's `meta.billed_units.input_tokens` is the usage."""

from __future__ import annotations

from typing import Any

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.embedding_list import input_texts

INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")


def to_cohere_embed(body: dict[str, Any]) -> dict[str, Any]:
    input_type = body.get("input_type") or "search_document"
    if input_type not in INPUT_TYPES:
        raise InvalidRequest(f"input_type: must be one of {', '.join(INPUT_TYPES)}", param="input_type")
    out: dict[str, Any] = {
        "model": body.get("model"),
        "texts": input_texts(body),
        "input_type": input_type,
        "embedding_types": ["float"],
    }
    if body.get("dimensions") is not None:
        out["output_dimension"] = body["dimensions"]
    return out


def from_cohere_embed(response: dict[str, Any]) -> tuple[list[list[float]], Usage | None] | None:
    """The float vectors and the billed usage, or None when the answer has no float embeddings."""
    embeddings = response.get("embeddings")
    vectors = embeddings.get("float") if isinstance(embeddings, dict) else None
    if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
        return None
    billed = ((response.get("meta") or {}).get("billed_units") or {}).get("input_tokens")
    return vectors, Usage(int(billed)) if isinstance(billed, int) else None
