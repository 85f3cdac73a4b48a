"""The `demo-embedding` model's embeddings: deterministic unit vectors from each text's SHA-256, local.

`dimensions` sets their length (1 to `MAX_DIMENSIONS`; `DEFAULT_DIMENSIONS` without it), `encoding_format: base64`
answers each as base64 of little-endian float32s (what the `openai` SDK asks for by default, and decodes), and the
usage counts the input's tokens with the gateway's tokenizer (`pricing.TokenCounter`).
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Mapping
from typing import Any

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.pricing import TokenCounter

DEFAULT_DIMENSIONS = 8
MAX_DIMENSIONS = 3072
"""As OpenAI's largest embedding model."""


def embeddings(body: Mapping[str, Any], tokens: TokenCounter) -> dict[str, Any]:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    size = _dimensions(body.get("dimensions"))
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise InvalidRequest("'encoding_format' must be float or base64.", param="encoding_format")
    data = []
    for i, item in enumerate(items):
        vector = unit_vector(str(item), size)
        value: Any = _base64(vector) if encoding == "base64" else vector
        data.append({"object": "embedding", "index": i, "embedding": value})
    used = sum(tokens.count_text(str(item)) for item in items)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": used, "total_tokens": used},
    }


def unit_vector(text: str, size: int) -> list[float]:
    """`size` numbers from SHA-256 of the text (and a block counter), scaled to length 1, as float32 holds them."""
    raw: list[int] = []
    block = 0
    while len(raw) < size:
        digest = hashlib.sha256(block.to_bytes(4, "little") + text.encode()).digest()
        raw += struct.unpack("<8i", digest)
        block += 1
    values = [v / 2**31 for v in raw[:size]]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    packed = struct.pack(f"<{size}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{size}f", packed))


def _dimensions(value: Any) -> int:
    if value is None:
        return DEFAULT_DIMENSIONS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DIMENSIONS:
        raise InvalidRequest(f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}.", param="dimensions")
    return value


def _base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
