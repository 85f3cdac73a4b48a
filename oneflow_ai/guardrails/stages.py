"""The guardrail stages of a gateway, built from its configuration (`gateway.compose` puts them in their places):
the input guard as an admission and a rewriter, the output guard as a reply and a stream inspector, and the
restoring of redacted values as the last reply and stream inspector."""

from __future__ import annotations

from collections.abc import Mapping

from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.gateway.stages import Stages
from oneflow_ai.guardrails.engine import Count, Guardrails
from oneflow_ai.guardrails.input_guard import InputGuard
from oneflow_ai.guardrails.output_guard import OutputGuard
from oneflow_ai.guardrails.restore_guard import RestoreGuard
from oneflow_ai.guardrails.settings import on


def guardrails_of(config: GatewayConfig, count: Count) -> Guardrails | None:
    """The gateway's guardrails, or None when its configuration names none (no stage is built)."""
    models: Mapping[str, tuple[str, ...]] = {n: g.guardrails for n, g in config.by_name().items()}
    if not on(config.guardrails, models):
        return None
    settings = config.guardrails
    policies = settings.by_name() if settings is not None else {}
    default = settings.default if settings is not None else ()
    return Guardrails(policies, default, {n: names for n, names in models.items() if names}, count=count)


def guardrail_stages(guardrails: Guardrails | None, config: GatewayConfig) -> tuple[Stages, Stages]:
    """The guards, and the stages that run last of their kind (`RestoreGuard`: after the response cache, so that
    the cache keeps placeholders and each caller gets their own values back)."""
    if guardrails is None:
        return Stages(), Stages()
    read_files = config.guardrails is not None and config.guardrails.files
    inputs = InputGuard(guardrails, read_files=read_files)
    outputs = OutputGuard()
    restores = RestoreGuard()
    guards = Stages(
        admissions=(inputs,), rewriters=(inputs,), reply_inspectors=(outputs,), stream_inspectors=(outputs,)
    )
    return guards, Stages(reply_inspectors=(restores,), stream_inspectors=(restores,))


def guardrails_in(stages: Stages) -> Guardrails | None:
    """The guardrails a gateway's stages run (for the admin API), or None."""
    for admission in stages.admissions:
        if isinstance(admission, InputGuard):
            return admission.guardrails
    return None
