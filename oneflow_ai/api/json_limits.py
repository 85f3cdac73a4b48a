"""How deeply a request body may nest. The size is bounded by the edge's body limit (413); orjson itself
refuses more than 1024 levels, but nothing a client legitimately sends comes near 64.

The check costs two `bytes.count` calls for a body with fewer brackets than the limit (almost every
request), and otherwise a walk over the parsed containers (not over the characters).
"""

from __future__ import annotations

from typing import Any

from oneflow_ai.errors import InvalidRequest

MAX_DEPTH = 64


def check_depth(raw: bytes, value: Any, limit: int = MAX_DEPTH) -> Any:
    """`value` (parsed from `raw`), or `InvalidRequest` when it nests deeper than `limit`."""
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return value
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    raise InvalidRequest(
                        f"The request body is nested more than {limit} levels deep.", code="json_too_deep"
                    )
                stack.append((child, depth + 1))
    return value
