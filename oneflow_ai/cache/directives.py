"""What one request asks of the cache: the `Cache-Control` header and the `cache` body field.

- `no_cache` (`Cache-Control: no-cache`): do not answer from the cache; the fresh answer is stored.
- `no_store` (`Cache-Control: no-store`): store nothing of this call (it may still be answered from the cache).
- `ttl_s`: how long this call's answer is kept (over the model's `ttl_s`).
- `allow_temperature`: this call may be answered from the cache although its `temperature` is above 0.

The body field is taken out of the body at the edge (`take`), whether a cache is configured or not, so that it
never reaches an upstream; a malformed one is a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oneflow_ai.errors import InvalidRequest

MAX_TTL_S = 30 * 24 * 3600
FLAGS = ("no_cache", "no_store", "allow_temperature")


@dataclass(frozen=True, slots=True)
class Directives:
    no_cache: bool = False
    no_store: bool = False
    ttl_s: int | None = None
    allow_temperature: bool = False


NONE = Directives()


def take(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The body without its `cache` field, and the field, checked (a 400 when malformed)."""
    if "cache" not in body:
        return body, None
    body = dict(body)
    field = body.pop("cache")
    if field is None:
        return body, None
    if not isinstance(field, dict):
        raise InvalidRequest("'cache' must be an object", param="cache")
    for name, value in field.items():
        if name in FLAGS:
            if not isinstance(value, bool):
                raise InvalidRequest(f"'cache.{name}' must be a boolean", param=f"cache.{name}")
        elif name == "ttl_s":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TTL_S:
                raise InvalidRequest(f"'cache.ttl_s' must be an integer from 1 to {MAX_TTL_S}", param="cache.ttl_s")
        else:
            known = ", ".join((*FLAGS, "ttl_s"))
            raise InvalidRequest(f"Unknown field 'cache.{name}' (known: {known})", param=f"cache.{name}")
    return body, field


def directives(field: dict[str, Any] | None, cache_control: str | None) -> Directives:
    """The call's directives from its checked body field and its `Cache-Control` header."""
    if field is None and not cache_control:
        return NONE
    tokens = {t.strip().lower() for t in cache_control.split(",")} if cache_control else set()
    field = field or {}
    return Directives(
        no_cache=bool(field.get("no_cache")) or "no-cache" in tokens,
        no_store=bool(field.get("no_store")) or "no-store" in tokens,
        ttl_s=field.get("ttl_s"),
        allow_temperature=bool(field.get("allow_temperature")),
    )
