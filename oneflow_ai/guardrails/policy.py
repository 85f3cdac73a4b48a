"""A guardrail policy: a name, what it does to each entity type it covers, and where it applies.

Written in the YAML (`guardrails.policies`), through the admin API, or taken from a preset (`guardrails.presets`).
`entities` maps an entity type to its action; `input` and `output` override it per direction (an action `allow`
there takes the type out on that side). `applies_to` says which sides it guards at all. Several policies on one
call merge into one `Rules` per side: per entity type the strongest action wins (`block` > `redact` > `mask` >
`warn` > `log`), named after the policy that asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oneflow_ai.config.matching import Matching

Action = Literal["block", "redact", "mask", "warn", "log"]
Side = Literal["input", "output"]

ACTIONS: tuple[Action, ...] = ("block", "redact", "mask", "warn", "log")
"""Strongest first."""
STRENGTH: dict[str, int] = {a: len(ACTIONS) - i for i, a in enumerate(ACTIONS)}
REWRITES = frozenset({"redact", "mask"})
INJECTION = "PROMPT_INJECTION"
NAME_PATTERN = r"^[A-Za-z0-9][\w.-]*$"
NAME_MAX = 64
"""A name's length is checked apart from its pattern: a bounded repeat of a Unicode word character (`{0,63}`)
compiles into ~6 MiB of regex in every process (pydantic-core's regex engine), the unbounded one into a few KiB."""
TYPE_PATTERN = r"^[A-Z][A-Z0-9_]{1,47}$"


class Policy(BaseModel):
    """One policy as written (YAML, admin API, preset)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(max_length=NAME_MAX), Matching(NAME_PATTERN)]
    description: str = Field("", max_length=2000)
    entities: dict[str, Action] = Field(default_factory=dict, max_length=64)
    """Entity type -> action, on every side the policy applies to."""
    input: dict[str, Action | Literal["allow"]] = Field(default_factory=dict, max_length=64)
    """Overrides for the input side (`allow`: not checked on input)."""
    output: dict[str, Action | Literal["allow"]] = Field(default_factory=dict, max_length=64)
    applies_to: Literal["input", "output", "both"] = "both"
    restore: bool = False
    """Put the values redacted from the request back into the answer for the caller (the model saw placeholders)."""
    injection_threshold: float | None = Field(None, ge=0, le=1)
    """A `PROMPT_INJECTION` finding counts only from this score up (default: every finding the detector reports)."""

    @field_validator("entities", "input", "output")
    @classmethod
    def _types(cls, v: dict[str, str]) -> dict[str, str]:
        import re

        for name in v:
            if not re.match(TYPE_PATTERN, name):
                raise ValueError(f"{name!r} is not an entity type name (upper case, as EMAIL_ADDRESS)")
        return v

    def actions(self, side: Side) -> dict[str, Action]:
        """What this policy does on `side` (empty when it does not apply there)."""
        if self.applies_to not in (side, "both"):
            return {}
        merged: dict[str, Action | Literal["allow"]] = {
            **self.entities,
            **(self.input if side == "input" else self.output),
        }
        return {t: a for t, a in merged.items() if a != "allow"}


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    policy: str
    restore: bool = False


@dataclass(frozen=True, slots=True)
class Rules:
    """What the call's policies do on one side, merged: entity type -> rule."""

    by_type: Mapping[str, Rule]
    injection_threshold: float | None = None
    types: frozenset[str] = field(init=False)
    """The entity types of `by_type` (computed once: every scan asks)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", frozenset(self.by_type))

    def __bool__(self) -> bool:
        return bool(self.by_type)


NO_RULES = Rules({})


def merge(policies: Iterable[Policy], side: Side) -> Rules:
    by_type: dict[str, Rule] = {}
    threshold: float | None = None
    for policy in policies:
        for entity, action in policy.actions(side).items():
            held = by_type.get(entity)
            if held is None or STRENGTH[action] > STRENGTH[held.action]:
                by_type[entity] = Rule(action, policy.name, policy.restore and action in REWRITES)
        if INJECTION in policy.actions(side) and policy.injection_threshold is not None:
            threshold = (
                min(threshold, policy.injection_threshold) if threshold is not None else policy.injection_threshold
            )
    return Rules(by_type, threshold) if by_type else NO_RULES


def strongest(actions: Iterable[str]) -> str | None:
    best: str | None = None
    for action in actions:
        if best is None or STRENGTH.get(action, 0) > STRENGTH.get(best, 0):
            best = action
    return best
