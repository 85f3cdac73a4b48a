"""Secrets by reference: a config value `env:NAME`, `file:/path`, `vault:mount/path#field` or `aws-sm:name#field`
is read at start-up by its backend (one small module each); anything else is a literal value.

`resolve(text, environ)` is the one seam. A value is never logged: every error names the reference only.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from oneflow_ai.config.secrets.reference import Reference, SecretError, is_reference, parse

BACKENDS = {
    "env": "oneflow_ai.config.secrets.env",
    "file": "oneflow_ai.config.secrets.files",
    "vault": "oneflow_ai.config.secrets.vault",
    "aws-sm": "oneflow_ai.config.secrets.aws_sm",
}
"""By scheme, the module whose `fetch(reference, environ)` reads it (imported on first use: hvac and botocore
load only for a config that names them)."""


def fetch(reference: Reference, environ: Mapping[str, str]) -> str:
    backend = importlib.import_module(BACKENDS[reference.scheme])
    value: str = backend.fetch(reference, environ)
    return value


def resolve(text: str, environ: Mapping[str, str]) -> str:
    """The secret `text` refers to, or `text` itself when it is a literal."""
    reference = parse(text)
    return text if reference is None else fetch(reference, environ)


class Resolver:
    """Resolves the references of one configuration load: each distinct reference is read once."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._read: dict[str, str] = {}

    def resolve(self, text: str) -> str:
        if text not in self._read:
            self._read[text] = resolve(text, self._environ)
        return self._read[text]


__all__ = ["Reference", "Resolver", "SecretError", "fetch", "is_reference", "parse", "resolve"]
