"""`vertex_ai`: its settings and URLs, and its token refreshed beside the calls (`TokenAuth`, with a clock and a
token source given, the source blocking until the test lets it answer)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from openai.types import CreateEmbeddingResponse
from pydantic import ValidationError

from oneflow_ai.config.schema import Deployment, Timeouts
from oneflow_ai.errors import UpstreamAuthFailed, UpstreamError
from oneflow_ai.providers.auth import authorise
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.google.vertex import VertexProvider, VertexSettings
from oneflow_ai.providers.google.vertex_auth import TokenAuth
from oneflow_ai.upstream.wire import UpstreamRequest

BODY: Any = {"messages": [{"role": "user", "content": "hi"}]}


def vertex(**fields: Any) -> Deployment:
    return Deployment.model_validate({"provider": "vertex_ai", "model": "gemini-2.5-pro", "project": "proj", **fields})


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({}, "https://us-central1-aiplatform.googleapis.com/v1/projects/proj/locations/us-central1"),
        (
            {"location": "europe-west4"},
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj/locations/europe-west4",
        ),
        ({"location": "global"}, "https://aiplatform.googleapis.com/v1/projects/proj/locations/global"),
        (
            {"location": "asia-south1", "base_url": "http://proxy.local/"},
            "http://proxy.local/v1/projects/proj/locations/asia-south1",
        ),
    ],
)
def test_urls_from_project_and_location(fields: dict[str, Any], url: str) -> None:
    deployment = vertex(**fields)
    model = "publishers/google/models/gemini-2.5-pro"
    provider = VertexProvider()
    assert provider.chat_request(BODY, deployment, stream=False).url == f"{url}/{model}:generateContent"
    assert provider.chat_request(BODY, deployment, stream=True).url == f"{url}/{model}:streamGenerateContent?alt=sse"
    assert isinstance(deployment.provider_settings, VertexSettings)


def test_settings_are_checked_at_load(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="project"):
        Deployment.model_validate({"provider": "vertex_ai", "model": "m"})
    with pytest.raises(ValidationError, match="cannot be read"):
        vertex(credentials_file=str(tmp_path / "missing.json"))
    with pytest.raises(ValidationError, match="a setting of provider vertex_ai"):
        Deployment.model_validate({"provider": "google", "model": "m", "project": "proj"})


class Source:
    """A token source the test answers: each call blocks until `answer` lets it go (in the refresh's thread)."""

    def __init__(self) -> None:
        self.calls = 0
        self.called = threading.Event()
        self.go = threading.Event()
        self.result: Any = None

    def __call__(self) -> tuple[str, float]:
        self.calls += 1
        self.called.set()
        assert self.go.wait(10)
        self.go.clear()
        if isinstance(self.result, Exception):
            raise self.result
        return self.result

    def answer(self, result: Any) -> None:
        self.result = result
        self.go.set()


def request() -> UpstreamRequest:
    return UpstreamRequest("POST", "https://x/v1/m:generateContent", {}, b"{}", Timeouts(), "vertex_ai")


async def authorised(auth: TokenAuth) -> str:
    req = request()
    await authorise(auth, req)
    return req.headers["authorization"]


def test_the_first_calls_wait_for_one_token_then_none_wait() -> None:
    async def run() -> None:
        now = [1000.0]
        source = Source()
        auth = TokenAuth(source, "v/0", refresh_margin_s=300, clock=lambda: now[0])
        first = [asyncio.create_task(authorised(auth)) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert not any(t.done() for t in first)  # no token yet: they wait
        source.answer(("ya29.one", 1000.0 + 3600))
        assert await asyncio.gather(*first) == ["Bearer ya29.one"] * 3
        assert source.calls == 1  # one fetch for the three
        now[0] += 3600 - 301
        assert await authorised(auth) == "Bearer ya29.one" and source.calls == 1  # not yet within the margin

    asyncio.run(run())


def test_a_token_near_its_end_is_refreshed_beside_the_calls() -> None:
    async def run() -> None:
        now = [0.0]
        source = Source()
        auth = TokenAuth(source, "v/0", refresh_margin_s=300, clock=lambda: now[0])
        source.answer(("ya29.one", 3600.0))
        await authorised(auth)
        now[0] = 3400.0  # 200 s left: within the margin
        source.called.clear()
        assert await authorised(auth) == "Bearer ya29.one"  # answered at once, the refresh not even started
        assert await asyncio.to_thread(source.called.wait, 10)  # the refresh runs, blocked in its thread
        assert await authorised(auth) == "Bearer ya29.one" and source.calls == 2  # one refresh under way
        source.answer(("ya29.two", 7200.0))
        assert auth._refreshing is not None
        await auth._refreshing
        assert await authorised(auth) == "Bearer ya29.two" and source.calls == 2

    asyncio.run(run())


def test_a_failed_refresh_keeps_a_valid_token_and_fails_calls_without_one() -> None:
    async def run() -> None:
        now = [0.0]
        source = Source()
        auth = TokenAuth(source, "v/0", refresh_margin_s=300, clock=lambda: now[0])
        source.answer(("ya29.one", 3600.0))
        await authorised(auth)
        now[0] = 3500.0
        source.answer(RuntimeError("token endpoint down"))
        assert await authorised(auth) == "Bearer ya29.one"
        now[0] = 3601.0  # expired: the next call waits for a refresh, which fails
        source.answer(RuntimeError("invalid_grant: Invalid JWT Signature."))
        with pytest.raises(UpstreamAuthFailed, match="invalid_grant") as info:
            await authorised(auth)
        assert info.value.retryable and not info.value.deployment_retryable and info.value.status == 502

    asyncio.run(run())


def test_the_token_is_not_shown() -> None:
    source = Source()
    auth = TokenAuth(source, "v/0")
    auth._token = "ya29.secret"
    assert "secret" not in repr(auth)


def test_embeddings_go_to_predict_and_count_the_tokens_vertex_reports() -> None:
    deployment = vertex(location="europe-west1")
    provider = VertexProvider()
    request = provider.embeddings_request({"input": ["What is life?", "hi"], "dimensions": 3}, deployment)
    assert request.url == (
        "https://europe-west1-aiplatform.googleapis.com/v1/projects/proj/locations/europe-west1"
        "/publishers/google/models/gemini-2.5-pro:predict"
    )
    assert json.loads(request.body) == {
        "instances": [{"content": "What is life?"}, {"content": "hi"}],
        "parameters": {"outputDimensionality": 3},
    }
    raw = (Path(__file__).parent / "fixtures" / "google" / "predict.vertex.json").read_bytes()
    result = provider.embeddings_response(raw, deployment)
    answer = CreateEmbeddingResponse.model_validate(json.loads(result.body))
    expected = [p["embeddings"]["values"] for p in json.loads(raw)["predictions"]]
    assert [d.embedding for d in answer.data] == expected
    assert result.usage == Usage(8) and answer.usage.prompt_tokens == 8
    with pytest.raises(UpstreamError):
        provider.embeddings_response(b'{"predictions": [{"embeddings": {}}]}', deployment)
