"""The value a reference names inside a secret that holds several (Vault's data, an AWS secret's JSON)."""

from __future__ import annotations

from collections.abc import Mapping

from oneflow_ai.config.secrets.reference import Reference, SecretError


def pick(document: Mapping[str, object], reference: Reference) -> str:
    """`document[field]`, or its only value when the reference names no field."""
    if reference.field is None:
        if len(document) != 1:
            names = ", ".join(sorted(document)) or "none"
            raise SecretError(f"{reference.text}: the secret has several fields ({names}): name one with #field")
        (value,) = document.values()
    elif reference.field in document:
        value = document[reference.field]
    else:
        raise SecretError(f"{reference.text}: the secret has no field {reference.field!r}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SecretError(f"{reference.text}: the field is not a string")
    return str(value)
