"""A/B experiments, the pure part: what an experiment is, and which variant a call goes to.

An experiment splits the traffic of one public model (`model`) between variants, each sending its share of the
calls to another public model (a variant may name `model` itself: the control). Shares are the variants'
`weight`s over their sum. A sticky experiment sends the same end user to the same variant every time: the point
in [0, 1) the variant is read at is a hash of the experiment's id and the user (the call's OpenAI `user`, else the
key's user, else the key), the same in every process and after a restart; otherwise it is a random draw. An
experiment's id is in the point's hash, so two experiments split the same users independently.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from typing import Literal

Status = Literal["running", "ended"]
Source = Literal["config", "api"]


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    model: str
    """The public model this variant's calls are served by."""
    weight: float


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    name: str
    model: str
    variants: tuple[Variant, ...]
    sticky: bool = False
    tenant_id: str = ""
    """The tenant whose calls it splits; '' for every tenant's (and the master key's)."""
    status: Status = "running"
    created_at: datetime | None = None
    ended_at: datetime | None = None
    source: Source = "api"
    """`config` (the YAML's `experiments:`, read-only through the API) or `api` (stored in `experiments`)."""
    _bounds: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = check(self.variants)
        if problem is not None:
            raise ValueError(problem)
        object.__setattr__(self, "_bounds", tuple(accumulate(v.weight for v in self.variants)))

    def variant_at(self, point: float) -> Variant:
        """The variant whose share holds `point` (in [0, 1))."""
        bounds = self._bounds
        i = bisect_right(bounds, point * bounds[-1])
        return self.variants[min(i, len(self.variants) - 1)]

    def choose(self, subject: str | None, draw: Callable[[], float]) -> Variant:
        """The variant for a call of `subject` (the end user): by its hash when sticky, else by `draw()`."""
        if self.sticky and subject is not None:
            return self.variant_at(point(self.id, subject))
        return self.variant_at(draw())


def point(experiment_id: str, subject: str) -> float:
    """A uniform point in [0, 1) fixed by the experiment and the subject (BLAKE2b: stable across processes)."""
    digest = hashlib.blake2b(f"{experiment_id}\x00{subject}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def check(variants: tuple[Variant, ...]) -> str | None:
    """Why these variants cannot make an experiment, or None."""
    if not 2 <= len(variants) <= MAX_VARIANTS:
        return f"an experiment needs 2 to {MAX_VARIANTS} variants"
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        return "variant names must differ"
    if any(not v.weight >= 0 or v.weight == float("inf") for v in variants) or not sum(v.weight for v in variants) > 0:
        return "variant weights must be finite numbers >= 0, at least one of them > 0"
    return None


MAX_VARIANTS = 10
