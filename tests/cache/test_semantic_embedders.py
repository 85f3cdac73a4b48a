"""The embedders: WordLlama from the wheel's own files with the network blocked, and a gateway model's answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oneflow_ai.auth.principal import Principal
from oneflow_ai.cache.embedders import EmbeddingUnavailable, PipelineEmbedder, from_openai_embeddings
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.call import Call, JSONReply, StreamReply

OFFLINE_LOAD = """
import asyncio, json, socket, sys

def refuse(*args, **kwargs):
    raise OSError("network attempted: %r" % (args[1:] or args,))

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
socket.create_connection = refuse

from oneflow_ai.cache.embedders import WordLlamaEmbedder

vectors = asyncio.run(WordLlamaEmbedder().embed(["what is the capital of france", "capital of france"]))
print(json.dumps({"shape": list(vectors.shape), "norms": [float(n) for n in (vectors ** 2).sum(1)],
                  "cosine": float(vectors[0] @ vectors[1]), "dtype": str(vectors.dtype)}))
"""


def test_wordllama_loads_from_the_package_with_no_network(tmp_path: Path) -> None:
    """A fresh process (the model is loaded once per process) with every socket refused, Hugging Face offline and
    an empty home (no download cache to fall back on): the weights and tokenizer come from the wheel."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_LOAD], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["shape"] == [2, 256] and out["dtype"] == "float32"
    assert out["norms"] == pytest.approx([1.0, 1.0], abs=1e-5)
    assert 0.8 < out["cosine"] < 1.0
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.safetensors"))  # nothing written


def test_the_blocked_network_would_be_noticed(tmp_path: Path) -> None:
    """The guard in OFFLINE_LOAD does refuse a download: WordLlama's own default load tries one and fails."""
    script = OFFLINE_LOAD.split("from oneflow_ai")[0] + "from wordllama import WordLlama\nWordLlama.load()\n"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "network attempted" in done.stderr or "Failed to download" in done.stderr


def answer(vectors: list[list[float]], shuffled: bool = False) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {"object": "list", "data": list(reversed(data)) if shuffled else data, "model": "emb"}


async def test_pipeline_embedder_sends_an_embeddings_call_for_the_caller() -> None:
    seen: list[Call] = []

    async def serve(call: Call) -> JSONReply | StreamReply:
        seen.append(call)
        return JSONReply(b"", {}, _parsed=answer([[3.0, 4.0], [0.0, 2.0]], shuffled=True))

    caller = Principal(key_id="k1", tenant_id="t1")
    vectors = await PipelineEmbedder(serve, "text-embedding-3-small").embed(["a", "b"], caller)
    np.testing.assert_allclose(vectors, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)  # in input order, unit length
    (call,) = seen
    assert call.endpoint == "embeddings" and call.principal == caller and call.model == "text-embedding-3-small"
    assert call.body["input"] == ["a", "b"]


async def test_pipeline_embedder_failures_are_unavailable() -> None:
    async def refused(call: Call) -> JSONReply | StreamReply:
        raise InvalidRequest("no such model")

    with pytest.raises(EmbeddingUnavailable, match="no such model"):
        await PipelineEmbedder(refused, "missing").embed(["a"])
    with pytest.raises(EmbeddingUnavailable):
        from_openai_embeddings(answer([[1.0]]), 2)  # one vector for two texts
    with pytest.raises(EmbeddingUnavailable):
        from_openai_embeddings({"data": [{"index": 0, "embedding": "AAAA"}]}, 1)  # base64, not asked for


@pytest.mark.filterwarnings("error")
async def test_a_text_with_no_known_token_is_a_zero_vector_not_nan() -> None:
    from oneflow_ai.cache.embedders import WordLlamaEmbedder

    vectors = await WordLlamaEmbedder().embed(["", "capital of france"])
    assert not np.isnan(vectors).any()
    assert float(np.abs(vectors[0]).sum()) == 0.0 and float(vectors[1] @ vectors[1]) == pytest.approx(1.0)
