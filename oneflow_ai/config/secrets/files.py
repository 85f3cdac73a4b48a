"""`file:/path`: a file's content, as Kubernetes mounts a Secret's key; one trailing newline is not the secret's."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from oneflow_ai.config.secrets.reference import Reference, SecretError


def fetch(reference: Reference, environ: Mapping[str, str]) -> str:
    try:
        text = Path(reference.name).read_text()
    except UnicodeDecodeError:
        raise SecretError(f"{reference.text}: the file is not UTF-8 text") from None
    except OSError as e:
        raise SecretError(f"{reference.text}: cannot read the file: {e.strerror}") from None
    value = text.removesuffix("\n").removesuffix("\r")
    if not value:
        raise SecretError(f"{reference.text}: the file is empty")
    return value
