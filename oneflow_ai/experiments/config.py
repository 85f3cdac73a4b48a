"""The `experiments:` section of the config file, and the checks an experiment made through the API passes too.

```yaml
experiments:
  - name: mini-vs-4o          # its id in the ledger's `experiment` column and in the results URL
    model: chat               # the public model whose calls are split
    sticky: true              # the same end user always gets the same variant
    variants:
      - {name: control, model: chat, weight: 50}
      - {name: mini, model: chat-mini, weight: 50}
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oneflow_ai.config.matching import Matching
from oneflow_ai.experiments.split import MAX_VARIANTS, Experiment, Variant, check

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
"""An experiment's or a variant's name: what the ledger's `experiment` and `variant` columns (64 characters) hold."""
NAME_PATTERN = NAME.pattern


class VariantConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Matching(f"^{NAME_PATTERN}$")]
    model: str = Field(min_length=1, max_length=128, description="the public model this variant's calls go to")
    weight: float = Field(1.0, ge=0, allow_inf_nan=False)


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Matching(f"^{NAME_PATTERN}$")]
    model: str = Field(min_length=1, max_length=128)
    variants: tuple[VariantConfig, ...] = Field(min_length=2, max_length=MAX_VARIANTS)
    sticky: bool = False
    tenant: str | None = Field(None, max_length=64, description="only this tenant's calls; none: every call")

    @model_validator(mode="after")
    def _variants(self) -> ExperimentConfig:
        problem = check(self.parts())
        if problem is not None:
            raise ValueError(problem)
        return self

    def parts(self) -> tuple[Variant, ...]:
        return tuple(Variant(v.name, v.model, v.weight) for v in self.variants)

    def experiment(self) -> Experiment:
        """As the gateway holds it: the name is its id (`source` config)."""
        return Experiment(
            self.name, self.name, self.model, self.parts(), self.sticky, self.tenant or "", source="config"
        )


def check_targets(model: str, variants: tuple[Variant, ...], modes: Mapping[str, str]) -> str | None:
    """Why an experiment on `model` cannot send calls to its variants' models (`modes`: each public model's
    name, aliases included, and its mode), or None."""
    if model not in modes:
        return f"experiment model {model!r} is not a configured model"
    for v in variants:
        if v.model not in modes:
            return f"variant {v.name!r} sends calls to unknown model {v.model!r}"
        if modes[v.model] != modes[model]:
            return f"variant {v.name!r}: model {v.model!r} is a {modes[v.model]} model, {model!r} a {modes[model]} one"
    return None


def check_experiments(experiments: tuple[ExperimentConfig, ...], modes: Mapping[str, str]) -> None:
    """The config's cross-references: known models of one mode, one experiment per name (raises ValueError)."""
    seen: set[str] = set()
    for e in experiments:
        if e.name in seen:
            raise ValueError(f"experiment {e.name!r} is defined twice")
        seen.add(e.name)
        problem = check_targets(e.model, e.parts(), modes)
        if problem is not None:
            raise ValueError(f"experiment {e.name!r}: {problem}")


def as_dict(e: Experiment) -> dict[str, Any]:
    """An experiment as the admin API shows it."""
    return {
        "object": "experiment",
        "id": e.id,
        "name": e.name,
        "model": e.model,
        "variants": [{"name": v.name, "model": v.model, "weight": v.weight} for v in e.variants],
        "sticky": e.sticky,
        "tenant_id": e.tenant_id or None,
        "status": e.status,
        "source": e.source,
        "created_at": _time(e.created_at),
        "ended_at": _time(e.ended_at),
    }


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
