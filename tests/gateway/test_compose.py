"""The stages' order, said in one place (`gateway.compose.stages`): limits before input guards, an embedder's own
stages at their kind's place, the settlement observers before metrics and logs."""

from __future__ import annotations

from typing import Any, cast

from oneflow_ai.gateway.compose import stages
from oneflow_ai.gateway.stages import QuietObserver, Stages
from oneflow_ai.identity.model_access import ModelAccess


def test_the_stages_run_in_the_written_order() -> None:
    rate_limits, budgets, metrics, extra_observer = QuietObserver(), QuietObserver(), QuietObserver(), QuietObserver()
    guard, redact, cache, inspect, watch = object(), object(), object(), object(), object()
    extra = Stages(
        admissions=(cast(Any, guard),),
        rewriters=(cast(Any, redact),),
        responders=(cast(Any, cache),),
        reply_inspectors=(cast(Any, inspect),),
        stream_inspectors=(cast(Any, watch),),
        observers=(extra_observer,),
    )
    built = stages({}, cast(Any, rate_limits), cast(Any, budgets), [metrics], extra)
    access, *admissions = built.admissions
    assert isinstance(access, ModelAccess) and admissions == [rate_limits, budgets, guard]
    assert (built.rewriters, built.responders) == ((redact,), (cache,))
    assert (built.reply_inspectors, built.stream_inspectors) == ((inspect,), (watch,))
    assert built.observers == (rate_limits, budgets, metrics, extra_observer)
    assert built.inspects and not stages({}, cast(Any, rate_limits), cast(Any, budgets), []).inspects
