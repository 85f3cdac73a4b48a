"""The seam between the cache stage and semantic matching.

The cache stage asks a `SemanticIndex` whether a request's last user message is
close enough to one already answered. ``rest_key`` is the canonical hash of
everything in the request except that message (model, system prompt, tools,
parameters), so "every other part matches exactly" holds by construction: only
entries stored under the same ``(scope, model, rest_key)`` are compared.
``scope`` is the tenant (optionally narrowed to a key or end user); an entry is
never compared across scopes.

``principal`` (optional) is the caller: when the embeddings come from a model of
the gateway (`cache.embedders.PipelineEmbedder`), that call goes through the
gateway's own pipeline and is billed to this principal; pass ``call.principal``.
A local embedder ignores it.
"""

from __future__ import annotations

from typing import Protocol

from oneflow_ai.auth.principal import Principal


class SemanticIndex(Protocol):
    async def lookup(
        self, scope: str, model: str, rest_key: str, text: str, principal: Principal | None = None
    ) -> tuple[str, float] | None:
        """The entry key of the closest stored text and its cosine similarity,
        or None when nothing is at or above the model's threshold (or passes the
        near-miss guard, `cache.semantic_guard`)."""
        ...

    async def add(
        self, scope: str, model: str, rest_key: str, text: str, entry_key: str, principal: Principal | None = None
    ) -> None:
        """Remember that ``text`` was answered by the entry ``entry_key``."""
        ...

    async def clear(self, scope: str | None, model: str | None) -> None:
        """Forget vectors: of one scope (None: every scope), of one model (None: all)."""
        ...
