"""Schemathesis against the gateway's own `/openapi.json` (a running gateway, the master key as auth): no 5xx,
and every response matches what its route declares. Bounded: a few examples per operation (~30 s in all)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.observability.conftest import AUTH

MAX_EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""What a response must satisfy. (Whether a 400 was deserved is the handlers' business: they check the few
fields they rely on more strictly than the documented schema says, e.g. a model must exist.)"""


def nonconforming(url: str) -> dict[str, str]:
    """Each operation's failures, by operation."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) > 20
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def conforms(case: Any) -> None:
            case.call_and_validate(base_url=url, headers=AUTH, checks=CHECKS)

        try:
            conforms()
        except (Exception, BaseExceptionGroup) as e:  # collect every operation's failure, then report them all
            failures[operation.label] = str(e)[:3000]
    return failures


def report(failures: dict[str, str]) -> str:
    return "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())


def test_every_operation_conforms(start_gateway: Any) -> None:
    failures = nonconforming(start_gateway().url)
    assert not failures, report(failures)
