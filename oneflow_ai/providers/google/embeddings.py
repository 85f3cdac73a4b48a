"""OpenAI embeddings as Gemini's `embedContent` (one text) and `batchEmbedContents` (several), and back.

`dimensions` is Gemini's `outputDimensionality`. The Gemini API reports no token usage for embeddings: the
answer's `usage` is zero, and the gateway counts the input itself (`usage` is None in the result)."""

from __future__ import annotations

from typing import Any

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.providers.embedding_list import input_texts


def to_gemini_embeddings(body: dict[str, Any], model: str) -> tuple[str, dict[str, Any]]:
    """The method (`embedContent` or `batchEmbedContents`) and its body."""
    texts = input_texts(body)
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
        raise InvalidRequest("dimensions: must be a positive integer", param="dimensions")
    extra = {"outputDimensionality": dimensions} if dimensions else {}
    if len(texts) == 1 and isinstance(body.get("input"), str):
        return "embedContent", {"content": {"parts": [{"text": texts[0]}]}, **extra}
    requests = [{"model": f"models/{model}", "content": {"parts": [{"text": t}]}, **extra} for t in texts]
    return "batchEmbedContents", {"requests": requests}


def from_gemini_embeddings(response: dict[str, Any]) -> list[list[float]] | None:
    """The vectors of an `embedContent` or `batchEmbedContents` answer, or None when it has none."""
    single = response.get("embedding")
    embeddings: Any = [single] if isinstance(single, dict) else response.get("embeddings")
    if not isinstance(embeddings, list) or not all(isinstance(e, dict) for e in embeddings):
        return None
    vectors = [e.get("values") for e in embeddings]
    if not all(isinstance(v, list) for v in vectors):
        return None
    return [list(v) for v in vectors if isinstance(v, list)]


def to_vertex_predict(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI embeddings as Vertex AI's `:predict` body for its embedding models (`gemini-embedding-001`,
    `text-embedding-005`, ...): one instance per text, `dimensions` as `outputDimensionality`."""
    texts = input_texts(body)
    out: dict[str, Any] = {"instances": [{"content": t} for t in texts]}
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not isinstance(dimensions, int) or dimensions < 1:
            raise InvalidRequest("dimensions: must be a positive integer", param="dimensions")
        out["parameters"] = {"outputDimensionality": dimensions}
    return out


def from_vertex_predict(response: dict[str, Any]) -> tuple[list[list[float]], int] | None:
    """The vectors of a `:predict` answer and their tokens (each prediction's `statistics.token_count`), or None."""
    predictions = response.get("predictions")
    if not isinstance(predictions, list):
        return None
    vectors: list[list[float]] = []
    tokens = 0
    for prediction in predictions:
        embeddings = prediction.get("embeddings") if isinstance(prediction, dict) else None
        values = embeddings.get("values") if isinstance(embeddings, dict) else None
        if not isinstance(values, list):
            return None
        vectors.append(list(values))
        count = (embeddings.get("statistics") or {}).get("token_count") if isinstance(embeddings, dict) else None
        tokens += int(count) if isinstance(count, int | float) else 0
    return vectors, tokens
