"""Schemathesis against the gateway's own `/openapi.json` (a running gateway on SQLite and on PostgreSQL, the
master key as auth, so the admin operations are really exercised): every operation, valid data (positive) and
data the schema forbids (negative). No 5xx at all, and a valid request gets a response that matches what its
route declares. Bounded and derandomized, so CI is stable: a few examples per operation and mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import GatewayFactory
from tests.observability.conftest import AUTH

MAX_EXAMPLES = 15
"""Per operation and mode: ~48 operations x 2 modes x 15: ~20 s a store on an idle 2-core machine."""

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""What a response to valid data must satisfy. (Whether a 400 was deserved is the handlers' business: they check
the few fields they rely on more strictly than the documented schema says, e.g. a model must exist.)"""

CHECKS: dict[GenerationMode, list[Callable[..., Any]]] = {
    GenerationMode.POSITIVE: CONFORMANCE,
    GenerationMode.NEGATIVE: [not_a_server_error],  # bad input: a 4xx, whichever
}

FAST_LANE = {
    "POST /v1/chat/completions",
    "POST /v1/embeddings",
    "POST /v1/messages",
    "GET /v1/models",
    "POST /api/v1/chat/completions",
    "POST /api/v1/embeddings",
    "POST /api/v1/messages",
    "GET /api/v1/models",
}
"""Served outside FastAPI (`api/fast_lane.py`), documented by the FastAPI routes that run the same handlers."""


def nonconforming(url: str) -> dict[str, str]:
    """Each operation's failures, by operation and generation mode."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    labels = {operation.label for operation in operations}
    assert FAST_LANE <= labels, FAST_LANE - labels
    assert len(operations) > 40, sorted(labels)
    failures: dict[str, str] = {}
    for operation in operations:
        for mode, checks in CHECKS.items():
            try:
                run(operation, mode, checks, url)
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise
                # nothing of this operation can be made invalid (e.g. GET /health takes no input)
            except (Exception, BaseExceptionGroup) as e:  # collect every operation's failure, then report them all
                failures[f"{operation.label} ({mode.value})"] = str(e)[:3000]
    return failures


def run(operation: Any, mode: GenerationMode, checks: list[Callable[..., Any]], url: str) -> None:
    """Call `operation` with `MAX_EXAMPLES` generated requests (the same ones every run) and check each answer."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def conforms(case: Any) -> None:
        case.call_and_validate(base_url=url, headers=AUTH, checks=checks)

    conforms()


def report(failures: dict[str, str]) -> str:
    return "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())


def test_every_operation_conforms(start_gateway: GatewayFactory, database_url: str) -> None:
    failures = nonconforming(start_gateway(database_url=database_url).url)
    assert not failures, report(failures)
