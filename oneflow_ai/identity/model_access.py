"""The models a key may call, as a pipeline `Admission`.

A key with `allowed_models` may call those models (by name or by any alias of the same group), and only
those, including as a per-request fallback. Any other model the gateway serves is refused with 403
`model_not_allowed` before any upstream is called: the model list is no secret (`GET /v1/models`), so telling
the caller the truth is more useful than pretending the model does not exist. A model the gateway does not
serve at all is still 404 `model_not_found`, as for every caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping

from oneflow_ai.config.schema import ModelGroup
from oneflow_ai.errors import PermissionDenied
from oneflow_ai.gateway.call import Call
from oneflow_ai.gateway.stages import DONE


class ModelAccess:
    def __init__(self, models: Mapping[str, ModelGroup]) -> None:
        self._models = models

    def admit(self, call: Call) -> Awaitable[None]:
        allowed = call.principal.allowed_models
        if allowed is None:
            return DONE
        for name in (call.model, *call.fallbacks):
            if not self.allows(allowed, name):
                raise PermissionDenied(
                    f"This API key may not use the model '{name}'.", param="model", code="model_not_allowed"
                )
        return DONE

    def allows(self, allowed: frozenset[str], name: str) -> bool:
        if name in allowed:
            return True
        group = self._models.get(name)
        return group is not None and not allowed.isdisjoint((group.name, *group.aliases))
