"""`POST /api/v1/admin/secrets/reload`: a rotated key (a Kubernetes secret's file rewritten) is used from the next
call without a restart; a reference that cannot be read is refused with 400 naming it, and the old key is kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from oneflow_ai.app import create_app
from oneflow_ai.settings import Settings
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import AiohttpServer, UvicornServer

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    upstream = AiohttpServer(OpenAIUpstream(require_key=UPSTREAM_KEY).app)
    key_file = tmp_path / "openai-key"
    key_file.write_text("sk-old-rotated-away\n")
    config = tmp_path / "oneflow.yaml"
    config.write_text(
        "models:\n  - name: m\n    deployments:\n"
        f"      - provider: openai\n        model: gpt-4o-mini\n        base_url: {upstream.url}/v1\n"
        f"        api_key: file:{key_file}\n"
    )
    settings = Settings(
        config_path=str(config),
        data_dir=tmp_path / "data",
        master_key=MASTER_KEY,
        database_url=f"sqlite:///{tmp_path / 'oneflow.db'}",
    )
    server = UvicornServer(lambda: create_app(settings, {}))
    try:
        yield server.url, key_file
    finally:
        server.stop()
        upstream.stop()


def call(url: str) -> int:
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=url + "/v1", max_retries=0)
    try:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    except openai.APIStatusError as e:
        return e.status_code
    return 200


def test_a_rotated_key_is_used_after_a_reload(gateway: tuple[str, Path]) -> None:
    url, key_file = gateway
    assert call(url) != 200  # the upstream refuses the old key
    key_file.write_text(UPSTREAM_KEY + "\n")
    assert call(url) != 200  # read at start-up, not per call
    reloaded = httpx.post(url + "/api/v1/admin/secrets/reload", headers=ADMIN)
    assert reloaded.status_code == 200 and reloaded.json() == {"object": "secrets.reload", "references": 1}
    assert call(url) == 200


def test_a_reference_that_cannot_be_read_is_refused_and_the_old_key_kept(gateway: tuple[str, Path]) -> None:
    url, key_file = gateway
    key_file.write_text(UPSTREAM_KEY + "\n")
    assert httpx.post(url + "/api/v1/admin/secrets/reload", headers=ADMIN).status_code == 200
    key_file.unlink()
    refused = httpx.post(url + "/api/v1/admin/secrets/reload", headers=ADMIN)
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert message == f"secret not read: file:{key_file}: cannot read the file: No such file or directory"
    assert UPSTREAM_KEY not in refused.text
    assert call(url) == 200
    assert httpx.post(url + "/api/v1/admin/secrets/reload").status_code == 401
