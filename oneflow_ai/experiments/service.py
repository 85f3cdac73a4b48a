"""What the admin API and the console do with experiments, under the role rules (`identity.roles`): the same
functions for both, so both confine the caller to its tenant the same way."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from oneflow_ai.auth.principal import Principal
from oneflow_ai.config.schema import ModelGroup
from oneflow_ai.errors import GatewayError, InvalidRequest
from oneflow_ai.experiments.config import NAME, check_targets
from oneflow_ai.experiments.registry import Experiments
from oneflow_ai.experiments.split import Experiment, Variant, check
from oneflow_ai.experiments.sync import StoredExperiments
from oneflow_ai.identity.roles import Can, NotFoundInTenant, is_superuser, require, scope, target_tenant


class ReadOnlyExperiment(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "experiment_read_only"


def listed(p: Principal, experiments: Experiments) -> list[Experiment]:
    """The experiments the caller's tenant sees: its own and those for every tenant (the master key: all)."""
    require(p, Can.READ_TENANT)
    own = scope(p)
    return [e for e in experiments.all() if own is None or e.tenant_id in ("", own)]


def visible(p: Principal, experiments: Experiments, experiment_id: str) -> Experiment:
    """The experiment if the caller's tenant sees it, else 404 (as one that does not exist)."""
    require(p, Can.READ_TENANT)
    e = experiments.get(experiment_id)
    own = scope(p)
    if e is None or (own is not None and e.tenant_id not in ("", own)):
        raise NotFoundInTenant("experiment", experiment_id)
    return e


async def create(
    p: Principal,
    store: StoredExperiments,
    models: Mapping[str, ModelGroup],
    *,
    name: str,
    model: str,
    variants: Sequence[Variant],
    sticky: bool,
    tenant_id: str | None,
) -> Experiment:
    """Start an experiment: owners and admins for their tenant, the master key for every tenant ('') or one."""
    require(p, Can.MANAGE_TENANT)
    tenant = target_tenant(p, tenant_id, "")
    parts = tuple(variants)
    for what, value in (("name", name), *(("variant name", v.name) for v in parts)):
        if not NAME.fullmatch(value):
            raise InvalidRequest(f"The {what} {value!r} is not 1-64 letters, digits, '.', '_' or '-'.", param="name")
    problem = check(parts) or check_targets(model, parts, {n: g.mode for n, g in models.items()})
    if problem is not None:
        raise InvalidRequest(f"This experiment cannot run: {problem}.", param="variants", code="invalid_experiment")
    exists = InvalidRequest(f"The experiment '{name}' exists.", code="experiment_exists", status=409)
    if any(e.name == name and e.tenant_id == tenant for e in store.experiments.configured):
        raise exists
    e = Experiment(f"exp_{secrets.token_hex(8)}", name, model, parts, sticky, tenant, created_at=datetime.now(UTC))
    if not await store.create(e):
        raise exists
    return e


async def end(p: Principal, store: StoredExperiments, experiment_id: str) -> Experiment:
    """End a running experiment of the caller's tenant (one for every tenant: the master key only)."""
    require(p, Can.MANAGE_TENANT)
    e = visible(p, store.experiments, experiment_id)
    if e.source == "config":
        raise ReadOnlyExperiment("This experiment is defined in the config file: remove it there to end it.")
    if not is_superuser(p) and e.tenant_id == "":
        raise NotFoundInTenant("experiment", experiment_id)
    await store.end(e.id, datetime.now(UTC))
    return store.experiments.get(e.id) or e
