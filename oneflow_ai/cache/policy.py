"""The cache settings resolved once per model name at start-up (`Policies`), and what they make of one call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oneflow_ai.auth.principal import Principal
from oneflow_ai.cache.directives import Directives
from oneflow_ai.cache.key import NO_TENANT, model_tag
from oneflow_ai.config.cache import CacheSettings
from oneflow_ai.config.schema import GatewayConfig


@dataclass(frozen=True, slots=True)
class Policy:
    mode: str
    """`exact`, `semantic` or `off`."""
    ttl_s: int
    scope: str
    allow_temperature: bool
    embedding_model: str | None = None
    similarity_threshold: float = 0.92

    @classmethod
    def of(cls, settings: CacheSettings) -> Policy:
        return cls(
            settings.mode,
            settings.ttl_s,
            settings.scope,
            settings.allow_temperature,
            settings.embedding_model,
            settings.similarity_threshold,
        )

    def narrow(self, principal: Principal, end_user: str | None) -> str:
        """What narrows the tenant's scope for this call: its key or its end user, when the cache is scoped so."""
        if self.scope == "key":
            return "key:" + principal.key_id
        if self.scope == "end_user":
            return "user:" + (end_user or "")
        return ""

    def samples(self, body: Mapping[str, Any], directives: Directives) -> bool:
        """The call asks for sampling (`temperature` above 0) and neither the model nor the call lets the cache
        answer it anyway: then the cache neither answers it nor keeps its answer."""
        t = body.get("temperature")
        hot = isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0
        return hot and not (self.allow_temperature or directives.allow_temperature)


OFF = Policy("off", 1, "tenant", False)


class Policies:
    """Each model name's (aliases too) policy; a name not configured (`auto`) gets the top level's."""

    def __init__(self, config: GatewayConfig) -> None:
        self.default = Policy.of(config.cache)
        self.by_model = {
            name: Policy.of(config.cache.over(g.cache)) if g.mode == "chat" else OFF
            for name, g in config.by_name().items()
        }

        self.names = {name: g.name for name, g in config.by_name().items()}
        """Each model name (an alias too) to its group's name: what an entry is keyed by."""
        self.tags = {name: model_tag(group) for name, group in self.names.items()}
        """Each model name to its group's `model_tag`, computed once."""

    def tag(self, model: str) -> str:
        """The `model_tag` of the group a model name belongs to (the name's own when it is not configured)."""
        found = self.tags.get(model)
        return found if found is not None else model_tag(model)

    def of(self, model: str) -> Policy:
        return self.by_model.get(model, self.default)

    @property
    def active(self) -> bool:
        return self.default.mode != "off" or any(p.mode != "off" for p in self.by_model.values())

    @property
    def semantic(self) -> list[Policy]:
        return [p for p in (self.default, *self.by_model.values()) if p.mode == "semantic"]

    @property
    def thresholds(self) -> dict[str, float]:
        return {n: p.similarity_threshold for n, p in self.by_model.items() if p.mode == "semantic"}


def tenant_of(principal: Principal) -> str:
    return principal.tenant_id or NO_TENANT
