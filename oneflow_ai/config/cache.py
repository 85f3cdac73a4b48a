"""The `cache:` settings: at the top level of the YAML, and per model group over them (`ModelCache`).

```yaml
cache: {mode: exact, ttl_s: 3600, scope: tenant, max_bytes: 67108864, allow_temperature: false}
models:
  - name: gpt-4o
    cache: {mode: semantic, similarity_threshold: 0.95, embedding_model: embed, ttl_s: 600}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TTL_S = 30 * 24 * 3600
Mode = Literal["exact", "semantic", "off"]
Scope = Literal["tenant", "key", "end_user"]


class CacheSettings(BaseModel):
    """`mode`: off, exact (the same request), semantic (exact first, then a last user message close enough in
    meaning). `scope`: who shares entries: a tenant always, or only one key, or one end user of it.
    `max_bytes`: the in-process store's bound (Redis's own memory policy bounds the shared store).
    `allow_temperature`: answer calls with a temperature above 0 from the cache too."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "off"
    ttl_s: int = Field(3600, ge=1, le=MAX_TTL_S)
    similarity_threshold: float = Field(0.92, gt=0, le=1)
    embedding_model: str | None = Field(None, min_length=1)
    scope: Scope = "tenant"
    max_bytes: int = Field(64 * 2**20, ge=4096)
    allow_temperature: bool = False

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, v: object) -> object:
        return "off" if v is False else v  # YAML reads a bare `off` as false

    def over(self, model: ModelCache | None) -> CacheSettings:
        """These settings with a model group's own over them."""
        if model is None:
            return self
        return self.model_copy(update=model.model_dump(exclude_none=True))


class ModelCache(BaseModel):
    """A model group's `cache:`: any field of the top level's but `max_bytes` (the store is shared)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode | None = None
    ttl_s: int | None = Field(None, ge=1, le=MAX_TTL_S)
    similarity_threshold: float | None = Field(None, gt=0, le=1)
    embedding_model: str | None = Field(None, min_length=1)
    scope: Scope | None = None
    allow_temperature: bool | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, v: object) -> object:
        return "off" if v is False else v  # YAML reads a bare `off` as false


def check_cache(top: CacheSettings, groups: dict[str, tuple[ModelCache | None, str]]) -> None:
    """Cross references: a semantic cache's `embedding_model` names a configured embedding model (by name;
    `groups`: each model name -> (its group's `cache:`, its mode)) or a local one (`local`, `local:<name>`)."""
    places = [("the top-level cache", top), *((f"model {n!r}", top.over(c)) for n, (c, _) in groups.items())]
    for where, settings in places:
        model = settings.embedding_model
        if settings.mode != "semantic" or model is None or model == "local" or model.startswith("local:"):
            continue
        found = groups.get(model)
        if found is None:
            raise ValueError(f"{where}: cache.embedding_model {model!r} is not a configured model (nor local:...)")
        if found[1] != "embedding":
            raise ValueError(f"{where}: cache.embedding_model {model!r} is a {found[1]} model, not an embedding model")
