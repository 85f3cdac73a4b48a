"""The experiments a gateway runs, as the pipeline reads them: running experiments by the model they split.

Built once with the config's experiments; the stored ones (the admin API's) are swapped in whole by
`experiments.sync` (at start-up, after each change, on every reload). `by_model` is empty when no experiment
runs, and the pipeline reads nothing else then (`gateway.auto.resolve`): no experiment, no cost.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping

from oneflow_ai.config.schema import ModelGroup
from oneflow_ai.experiments.split import Experiment
from oneflow_ai.gateway.call import Call


class Experiments:
    def __init__(
        self,
        configured: Iterable[Experiment],
        models: Mapping[str, ModelGroup],
        draw: Callable[[], float] | None = None,
    ) -> None:
        self.configured = tuple(configured)
        self.stored: tuple[Experiment, ...] = ()
        self.models = models
        self._draw = draw or random.Random().random
        self.by_model: dict[str, tuple[Experiment, ...]] = {}
        """Running experiments by the public model they split, a tenant's own before those for every tenant."""
        self._index()

    def all(self) -> tuple[Experiment, ...]:
        return (*self.configured, *self.stored)

    def get(self, experiment_id: str) -> Experiment | None:
        return next((e for e in self.all() if e.id == experiment_id), None)

    def replace(self, stored: Iterable[Experiment]) -> None:
        """Hold these stored experiments from now on (the config's stay)."""
        self.stored = tuple(stored)
        self._index()

    def _index(self) -> None:
        index: dict[str, list[Experiment]] = {}
        for e in self.all():
            if e.status == "running":
                index.setdefault(e.model, []).append(e)
        # a tenant's own experiment first; then the oldest: one experiment decides a call
        self.by_model = {m: tuple(sorted(es, key=lambda e: e.tenant_id == "")) for m, es in index.items()}

    def assign(self, call: Call) -> ModelGroup | None:
        """The group serving `call` when an experiment splits its model (`call.experiment` and `call.variant` set),
        else None."""
        running = self.by_model.get(call.model)
        if running is None:
            return None
        p = call.principal
        tenant = p.tenant_id or ""
        for e in running:
            if e.tenant_id and e.tenant_id != tenant:
                continue
            variant = e.choose(call.end_user or p.user_id or p.key_id, self._draw)
            group = self.models.get(variant.model)
            if group is None:  # its model left the configuration since the experiment was made
                return None
            call.experiment, call.variant = e.id, variant.name
            return group
        return None
