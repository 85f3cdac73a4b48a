"""API_KEY, JWT and PRIVATE_KEY: each vendor's key format, high-entropy values after key words, tokens and PEM blocks
with exact offsets; placeholders and look-alikes do not match."""

from __future__ import annotations

import base64
import json

import pytest

from tests.guardrails.detectors.helpers import at, found

KEYS = [
    "sk-" + "A1b2C3d4E5f6G7h8I9j0" + "T3BlbkFJ" + "K1l2M3n4O5p6Q7r8S9t0",  # OpenAI (legacy)
    "sk-proj-" + "Ab3_dE6-gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2rS5uV8xA1",  # OpenAI project key
    "sk-ant-api03-" + "x" * 40 + "Y7_-z" * 10 + "AA",  # Anthropic
    "AKIAIOSFODNN7EXAMPLE",  # AWS access key id
    "ASIAY34FZKBOKMUTVV7A",  # AWS temporary
    "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",  # GitHub
    "github_pat_11ABCDEFG0" + "abcdefghijkl_" + "x1" * 20,  # GitHub fine-grained
    "glpat-" + "Xy9_zW8-vU7tS6rQ5pO4",  # GitLab
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",  # Slack
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",  # Stripe
    "rk_live_" + "51Hxyz0123456789ABCDEFab",  # Stripe restricted
    "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",  # Google
]


@pytest.mark.parametrize("key", KEYS)
def test_vendor_key_found(key: str) -> None:
    text = f"I accidentally committed {key} to git."
    assert found(text, "API_KEY") == at(text, key)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("api_key=9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c", "9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c"),
        ('client_secret: "Zr8kP2mQ9vX4tL7nB1cW"', "Zr8kP2mQ9vX4tL7nB1cW"),
        ("ACCESS_TOKEN=aB3dE5gH7jK9mN1pQ3sT5vX7zB9", "aB3dE5gH7jK9mN1pQ3sT5vX7zB9"),
        ("my api key is Qm9vX4tL7nB1cWZr8kP2", "Qm9vX4tL7nB1cWZr8kP2"),
    ],
)
def test_high_entropy_value_after_key_word(text: str, value: str) -> None:
    assert found(text, "API_KEY") == at(text, value)


@pytest.mark.parametrize(
    "text",
    [
        "api_key=YOUR_API_KEY_HERE",  # a placeholder: no digit, low entropy
        "The token limit is 4096 tokens per request.",
        "pip install sk-learn-extra-utilities-package",  # sk- without a digit
        "Rotate the API key every 90 days.",
        "password: correcthorsebatterystaple",  # no digit, one case
        "api_key=aaaaaaaaaaaaaaaaaaaa1111",  # too regular to be random
        "token=abababababababab12",
        "9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c is the commit",  # random-looking but no key word
        "xsk-proj-abc123DEF456ghi789JKL012",  # glued to a word
    ],
)
def test_api_key_hard_negatives(text: str) -> None:
    assert found(text, "API_KEY") == []


def _b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_jwt_found() -> None:
    token = _b64url({"alg": "HS256", "typ": "JWT"}) + "." + _b64url({"sub": "42"}) + ".c2lnbmF0dXJlX2J5dGVz"
    text = f"Authorization: Bearer {token}"
    assert found(text, "JWT") == at(text, token)


def test_unsigned_jwt_found() -> None:
    token = _b64url({"alg": "none"}) + "." + _b64url({"sub": "42"}) + "."
    text = f"token {token} here"
    assert found(text, "JWT") == at(text, token)


@pytest.mark.parametrize(
    "token",
    [
        _b64url({"typ": "JWT"}) + "." + _b64url({"sub": "42"}) + ".c2ln",  # no alg
        "eyJub3QganNvbg." + _b64url({"sub": "42"}) + ".c2ln",  # header is not JSON
        _b64url({"alg": "HS256"}) + "-only-one-part",
    ],
)
def test_jwt_hard_negatives(token: str) -> None:
    assert found(f"token {token}", "JWT") == []


def test_private_key_block_found() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n" \
          "KUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END RSA PRIVATE KEY-----"  # fmt: skip
    text = f"Here is the deploy key:\n{pem}\nkeep it safe."
    assert found(text, "PRIVATE_KEY") == at(text, pem)


def test_private_key_cut_before_its_end_is_found() -> None:
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
    assert found(text, "PRIVATE_KEY") == at(text, text)


def test_public_key_is_not_a_private_key() -> None:
    text = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
    assert found(text, "PRIVATE_KEY") == []


@pytest.mark.parametrize(
    "text",
    ["token = base64.urlsafe_b64encode(digest)", "secret = client.kv.v2.read_secret_version(path)"],
)
def test_code_after_a_key_word_is_not_a_key(text: str) -> None:
    assert found(text, "API_KEY") == []
