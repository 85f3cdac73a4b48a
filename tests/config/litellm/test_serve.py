"""`oneflow serve --config` on LiteLLM's quick-start config.yaml, over real HTTP: its models answer through fake
upstreams (Azure's deployments path with the key from the environment, an OpenAI-compatible server), with the
master key its general_settings name, and each setting without an equivalent is warned once at start."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai

from tests.conftest import UPSTREAM_KEY
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import AiohttpServer
from tests.fakes.subprocess_gateway import SubprocessGateways

FIXTURE = Path(__file__).parent.parent / "fixtures" / "litellm" / "quick_start.yaml"


def test_the_quick_start_config_serves_its_models(tmp_path: Path) -> None:
    azure, compatible = OpenAIUpstream(require_key=UPSTREAM_KEY), OpenAIUpstream()
    servers = [AiohttpServer(azure.app), AiohttpServer(compatible.app)]
    text = (
        FIXTURE.read_text()
        .replace("https://my-endpoint-europe-berri-992.openai.azure.com/", servers[0].url)
        .replace("https://my-endpoint-canada-berri992.openai.azure.com/", servers[0].url)
        .replace("http://0.0.0.0:4000/v1", servers[1].url + "/v1")
    )
    gateways = SubprocessGateways(tmp_path)
    env = {
        "ONEFLOW_MASTER_KEY": "",  # the config's general_settings.master_key is the key
        "AZURE_API_KEY_EU": UPSTREAM_KEY,
        "AZURE_API_KEY_CA": UPSTREAM_KEY,
        "AWS_REGION": "us-west-2",
    }
    try:
        served = gateways.start(env=env, config_yaml=text)
        client = openai.OpenAI(base_url=served.url + "/v1", api_key="sk-1234", max_retries=0)
        listed = {m.id for m in client.models.list()}
        assert {"gpt-4o", "vllm-models", "anthropic-claude", "bedrock-claude-v1"} <= listed and "*" not in listed
        for _ in range(4):  # both Azure deployments of gpt-4o, load-balanced
            reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content
        assert {r["path"].split("?")[0] for r in azure.received} <= {
            "/openai/deployments/gpt-4o-eu/chat/completions",
            "/openai/deployments/gpt-4o-ca/chat/completions",
        }
        assert all(r["headers"]["api-key"] == UPSTREAM_KEY for r in azure.received)
        assert all("api-version=2024-10-21" in r["path"] for r in azure.received)
        stream = client.chat.completions.create(
            model="vllm-models", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert compatible.received[-1]["body"]["model"] == "facebook/opt-125m"
        assert compatible.received[-1]["headers"]["Authorization"] == "Bearer none"
        refused = httpx.get(served.url + "/v1/models", headers={"authorization": "Bearer sk-other"})
        assert refused.status_code == 401
        output = served.output()
        for setting in (
            "litellm_settings.success_callback",
            "general_settings.alerting",
            "model_list.5.litellm_params.model",
            "model_list.4.model_info.version",
        ):
            assert output.count(f"LiteLLM setting {setting}:") == 1, (setting, output)
    finally:
        gateways.stop_all()
        for server in servers:
            server.stop()
