"""A virtual key's guardrail policies (`guardrails`), kept in its `metadata` column under a reserved entry until the
key table has a column of its own: the admin API shows them as the key's `guardrails`, never inside `metadata`, and
a change of `metadata` keeps them. A key cannot change its own (`bounds.check_self_edit`), and a key a caller makes
or changes carries at least the caller's own, so no key can mint one that escapes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

RESERVED = "oneflow.guardrails"


def of(metadata: Mapping[str, Any] | None) -> tuple[str, ...]:
    names = (metadata or {}).get(RESERVED)
    return tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()


def public(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if metadata is None:
        return None
    shown = {k: v for k, v in metadata.items() if k != RESERVED}
    return shown if shown or RESERVED not in metadata else None


def stored(metadata: Mapping[str, Any] | None, guardrails: Iterable[str]) -> dict[str, Any] | None:
    """`metadata` (the caller's, without the reserved entry) with the key's guardrails folded in."""
    names = list(dict.fromkeys(guardrails))
    out = {k: v for k, v in (metadata or {}).items() if k != RESERVED}
    if names:
        out[RESERVED] = names
    return out if out or metadata is not None else None


def fold(values: dict[str, Any], old_metadata: Mapping[str, Any] | None, inherited: Iterable[str]) -> dict[str, Any]:
    """A key's new column values: `guardrails` (when given) and `metadata` (when given) folded into the metadata
    column, keeping the key's present guardrails unless changed; at least the `inherited` ones (the caller's)."""
    if "guardrails" not in values and "metadata" not in values and not inherited:
        return values
    out = dict(values)
    names = list(out.pop("guardrails") or ()) if "guardrails" in values else list(of(old_metadata))
    names += [n for n in inherited if n not in names]
    metadata = out["metadata"] if "metadata" in out else public(old_metadata)
    out["metadata"] = stored(metadata, names)
    return out
