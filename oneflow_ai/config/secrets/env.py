"""`env:NAME`: an environment variable of the gateway's process."""

from __future__ import annotations

from collections.abc import Mapping

from oneflow_ai.config.secrets.reference import Reference, SecretError


def fetch(reference: Reference, environ: Mapping[str, str]) -> str:
    value = environ.get(reference.name)
    if not value:
        raise SecretError(f"{reference.text}: the environment variable {reference.name} is not set")
    return value
