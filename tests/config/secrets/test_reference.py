"""The reference parser: pure text in, a reference (or None for a literal) out."""

from __future__ import annotations

import pytest

from oneflow_ai.config.secrets import Reference, SecretError, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env:OPENAI_API_KEY", Reference("env", "OPENAI_API_KEY")),
        ("file:/var/run/secrets/openai/api-key", Reference("file", "/var/run/secrets/openai/api-key")),
        ("vault:secret/openai#api_key", Reference("vault", "secret/openai", "api_key")),
        ("vault:kv/teams/search/openai", Reference("vault", "kv/teams/search/openai")),
        ("aws-sm:prod/openai#api_key", Reference("aws-sm", "prod/openai", "api_key")),
        (
            "aws-sm:arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/openai-a1b2c3",
            Reference("aws-sm", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/openai-a1b2c3"),
        ),
    ],
)
def test_references_are_parsed(text: str, expected: Reference) -> None:
    assert parse(text) == expected and expected.text == text


@pytest.mark.parametrize("text", ["sk-proj-abc123", "https://example.com", "http:x", "literal:value", ""])
def test_anything_else_is_a_literal(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("env:", "env: needs a variable name"),
        ("file:", "file: needs a path"),
        ("file:relative/key", "absolute path"),
        ("vault:", "malformed vault reference"),
        ("vault:secret#", "malformed vault reference"),
        ("vault:openai#key", "<mount>/<path>"),
        ("vault:/secret/openai#key", "<mount>/<path>"),
        ("aws-sm:#field", "malformed aws-sm reference"),
        ("aws-sm:prod/openai#", "malformed aws-sm reference"),
    ],
)
def test_malformed_references_are_refused(text: str, says: str) -> None:
    with pytest.raises(SecretError, match=says):
        parse(text)
