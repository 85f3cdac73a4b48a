"""Secret references, parsed: `env:NAME`, `file:/path`, `vault:mount/path#field`, `aws-sm:name#field`.

Pure: text in, a `Reference` out (or None for a literal value). Nothing here reads a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMES = ("env", "file", "vault", "aws-sm")
EXAMPLES = {
    "env": "env:OPENAI_API_KEY",
    "file": "file:/var/run/secrets/openai/api-key",
    "vault": "vault:secret/openai#api_key",
    "aws-sm": "aws-sm:prod/openai#api_key",
}


class SecretError(ValueError):
    """A reference is malformed or its secret cannot be read. The message names the reference, never a value."""


@dataclass(frozen=True, slots=True)
class Reference:
    scheme: str
    name: str
    """The variable, the file's path, Vault's `mount/path` or the AWS secret's name or ARN."""
    field: str | None = None
    """For vault: and aws-sm:, the field of the secret's JSON object (`#field`); None: its only value."""

    @property
    def text(self) -> str:
        return f"{self.scheme}:{self.name}" + (f"#{self.field}" if self.field is not None else "")


def parse(text: str) -> Reference | None:
    """The reference `text` is, or None when it is a literal value. A malformed reference raises `SecretError`."""
    scheme, colon, rest = text.partition(":")
    if not colon or scheme not in SCHEMES:
        return None
    example = EXAMPLES[scheme]
    if scheme in ("env", "file"):
        if not rest:
            raise SecretError(f"{scheme}: needs a {'variable name' if scheme == 'env' else 'path'}, as in {example}")
        if scheme == "file" and not rest.startswith("/"):
            raise SecretError(f"{text}: a file reference needs an absolute path, as in {example}")
        return Reference(scheme, rest)
    name, hash_, field = rest.partition("#")
    if not name or (hash_ and not field):
        raise SecretError(f"{text}: malformed {scheme} reference, as in {example}")
    if scheme == "vault" and ("/" not in name.strip("/") or name.startswith("/")):
        raise SecretError(f"{text}: a vault reference is <mount>/<path>, as in {example}")
    return Reference(scheme, name, field if hash_ else None)


def is_reference(text: str) -> bool:
    scheme, colon, _ = text.partition(":")
    return bool(colon) and scheme in SCHEMES
