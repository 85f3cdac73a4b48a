"""The `webhooks:` section: secrets by reference, known event types, http(s) URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from oneflow_ai.events.config import WebhookConfig
from oneflow_ai.events.endpoints import from_config


def test_secret_is_read_through_its_reference(tmp_path: Path) -> None:
    (tmp_path / "hook").write_text("from-a-file\n")
    by_file = WebhookConfig(url="https://h.example/x", secret=f"file:{tmp_path / 'hook'}")
    by_env = WebhookConfig(url="https://h.example/y", secret="env:HOOK")
    [a, b] = from_config([by_file, by_env], {"HOOK": "from-env"})
    assert (a.secret, b.secret) == ("from-a-file", "from-env")
    assert a.id != b.id and a.id == from_config([by_file], {})[0].id  # stable, per URL


@pytest.mark.parametrize(
    "bad",
    [
        {"url": "https://h.example/x", "secret": "a-literal-secret"},
        {"url": "ftp://h.example/x", "secret": "env:S"},
        {"url": "https://h.example/x", "secret": "env:S", "events": ["key.exploded"]},
        {"url": "https://h.example/x", "secret": "env:S", "events": []},
        {"url": "https://h.example/x", "secret": "env:S", "format": "teams"},
    ],
)
def test_bad_webhooks_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WebhookConfig.model_validate(bad)
