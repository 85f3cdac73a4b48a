"""Authorising an upstream request: each `Auth` applied to a built request, and the `Auth` each provider chooses."""

from __future__ import annotations

from typing import Any

import pytest

from oneflow_ai.config.schema import Deployment, Timeouts
from oneflow_ai.providers.anthropic import AnthropicProvider
from oneflow_ai.providers.auth import BearerAuth, HeaderKeyAuth, NoAuth, QueryKeyAuth, bearer, header_key
from oneflow_ai.providers.azure import AzureProvider
from oneflow_ai.providers.openai import OpenAIProvider
from oneflow_ai.upstream.wire import UpstreamRequest

SECRET = "sk-secret/+&="


def request(url: str = "https://up.example/v1/chat/completions") -> UpstreamRequest:
    return UpstreamRequest("POST", url, {"content-type": "application/json"}, b"{}", Timeouts(), "p")


def test_bearer_sets_the_authorization_header() -> None:
    req = request()
    BearerAuth(SECRET).apply(req)
    assert req.headers == {"content-type": "application/json", "authorization": f"Bearer {SECRET}"}
    assert req.url == "https://up.example/v1/chat/completions" and req.body == b"{}"


@pytest.mark.parametrize("header", ["x-api-key", "api-key", "x-goog-api-key", "xi-api-key", "X-Api-Key"])
def test_a_header_key_sets_its_own_header_and_nothing_else(header: str) -> None:
    req = request()
    HeaderKeyAuth(header, SECRET).apply(req)
    assert req.headers == {"content-type": "application/json", header.lower(): SECRET}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://up.example/v1/models/m:generate",
            "https://up.example/v1/models/m:generate?key=sk-secret%2F%2B%26%3D",
        ),
        ("https://up.example/v1/x?alt=sse", "https://up.example/v1/x?alt=sse&key=sk-secret%2F%2B%26%3D"),
    ],
)
def test_a_query_key_is_added_to_the_url_encoded(url: str, expected: str) -> None:
    req = request(url)
    QueryKeyAuth("key", SECRET).apply(req)
    assert req.url == expected and req.headers == {"content-type": "application/json"}


def test_no_auth_leaves_the_request_as_built() -> None:
    req = request()
    NoAuth().apply(req)
    assert req == request()


def test_an_auth_shows_no_secret() -> None:
    for auth in (BearerAuth(SECRET), HeaderKeyAuth("x-api-key", SECRET), QueryKeyAuth("key", SECRET)):
        assert "sk-secret" not in repr(auth)


def test_no_key_or_a_header_the_deployment_sets_itself_means_no_auth() -> None:
    assert isinstance(bearer(None, {}), NoAuth) and isinstance(bearer("", {}), NoAuth)
    assert isinstance(header_key("x-api-key", None, {}), NoAuth)
    # a deployment's configured header is sent as written, not beside (or under) the key's
    assert isinstance(bearer(SECRET, {"Authorization": "Bearer from-config"}), NoAuth)
    assert isinstance(header_key("api-key", SECRET, {"API-KEY": "from-config"}), NoAuth)
    assert isinstance(header_key("api-key", SECRET, {"x-other": "1"}), HeaderKeyAuth)


def deployment(provider: str, **fields: Any) -> Deployment:
    return Deployment.model_validate({"provider": provider, "model": "m", "id": f"{provider}/0", **fields})


@pytest.mark.parametrize(
    ("dep", "environ", "header", "value"),
    [
        (deployment("openai"), {"OPENAI_API_KEY": "k1"}, "authorization", "Bearer k1"),
        (deployment("groq", api_key="env:MINE"), {"MINE": "k2", "GROQ_API_KEY": "no"}, "authorization", "Bearer k2"),
        (deployment("anthropic"), {"ANTHROPIC_API_KEY": "k3"}, "x-api-key", "k3"),
        (
            deployment("azure", base_url="https://r.openai.azure.com", api_version="2024-10-21"),
            {"AZURE_OPENAI_API_KEY": "k4"},
            "api-key",
            "k4",
        ),
    ],
)
def test_each_provider_chooses_how_its_deployments_are_authorised(
    dep: Deployment, environ: dict[str, str], header: str, value: str
) -> None:
    provider = {"anthropic": AnthropicProvider(), "azure": AzureProvider()}.get(dep.provider, OpenAIProvider())
    req = provider.chat_request({"messages": [{"role": "user", "content": "hi"}]}, dep, stream=False)
    before = dict(req.headers)
    provider.auth(dep, environ).apply(req)
    assert req.headers == {**before, header: value}


def test_a_deployment_header_named_like_the_credential_is_sent_once_as_configured() -> None:
    dep = deployment("openai", headers={"Authorization": "Bearer from-config"})
    provider = OpenAIProvider()
    req = provider.chat_request({"messages": []}, dep, stream=False)
    provider.auth(dep, {"OPENAI_API_KEY": "from-env"}).apply(req)
    assert [v for k, v in req.headers.items() if k.lower() == "authorization"] == ["Bearer from-config"]


def test_the_demo_sends_no_credential() -> None:
    dep = deployment("demo")
    req = OpenAIProvider().chat_request({"messages": []}, dep, stream=False)
    auth = OpenAIProvider().auth(dep, {"OPENAI_API_KEY": "not-for-the-demo"})
    auth.apply(req)
    assert isinstance(auth, NoAuth) and "authorization" not in req.headers
