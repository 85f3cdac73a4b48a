"""Where semantic matching gets its vectors: a small local model, or an embeddings model of the gateway.

- `WordLlamaEmbedder`: WordLlama's static token embeddings (the `semantic` extra: ``wordllama``, ``numpy``).
  Its weights (``l2_supercat_256.safetensors``) and tokenizer ship inside the wheel and are read from there
  only: nothing is downloaded at run time, a missing file is an error. ``WordLlama.load()`` with its defaults
  looks for the tokenizer in ``wordllama/tokenizer/`` (the package ships ``tokenizers/``) and then downloads it
  from Hugging Face; passing the package's own directory as ``cache_dir`` with ``disable_download=True`` finds
  both files in the package and refuses any download. Loaded once per process (`_wordllama`, a memo of
  read-only weights: ~0.5 s and ~33 MB), an embedding costs ~50 µs per text on one core.
- `PipelineEmbedder`: a model of the gateway's own configuration, called through the gateway's pipeline like
  any ``/v1/embeddings`` call (admission, routing, fallbacks, the ledger): billed to the caller's principal.

Both return unit-length float32 rows, one per text.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from oneflow_ai.auth.principal import MASTER, Principal
from oneflow_ai.errors import GatewayError
from oneflow_ai.gateway.call import Call, JSONReply, StreamReply, embeddings_call

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]

EXTRA = "semantic"


class EmbeddingUnavailable(Exception):
    """No vector could be made for this text (the embeddings model refused or failed): the lookup is a miss."""


class Embedder(Protocol):
    @property
    def dim(self) -> int | None:
        """The vectors' length, when known before the first call."""
        ...

    async def embed(self, texts: list[str], principal: Principal | None = None) -> Vectors:
        """One unit-length row per text; `principal` pays for it when the embedding costs anything."""
        ...


class WordLlamaEmbedder:
    __slots__ = ("_model", "dim")

    def __init__(self, dim: int = 256) -> None:
        self._model = _wordllama(dim)
        self.dim = dim

    async def embed(self, texts: list[str], principal: Principal | None = None) -> Vectors:
        # ~50 µs a text: cheaper inline than a hop to a thread
        return unit_rows(self._model.embed(texts, norm=False))


@functools.cache
def _wordllama(dim: int) -> Any:
    """WordLlama from the package's own files, once per process and dimension."""
    try:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        import wordllama  # type: ignore[import-untyped]  # its __init__ calls logging.basicConfig(INFO): undone
        from wordllama import WordLlama

        root.handlers[:], root.level = handlers, level
    except ImportError as e:
        raise RuntimeError(
            f"Semantic caching with the local model needs the '{EXTRA}' extra (pip install 'oneflow-ai[{EXTRA}]')."
        ) from e
    package = Path(wordllama.__file__).parent
    return WordLlama.load(cache_dir=package, disable_download=True, dim=256, trunc_dim=None if dim == 256 else dim)


def unit_rows(matrix: Any) -> Vectors:
    """Each row scaled to length 1; a row of zeros (a text with no known token) stays zeros: similar to nothing."""
    import numpy as np

    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


Serve = Callable[[Call], Awaitable[JSONReply | StreamReply]]


class PipelineEmbedder:
    """Embeddings from `model`, a model group of the gateway, served by `serve` (the pipeline's `complete` bound
    to the gateway at the composition root): recorded and billed as an embeddings call of the caller."""

    __slots__ = ("_prefix", "_serve", "dim", "model")

    def __init__(self, serve: Serve, model: str) -> None:
        self._serve = serve
        self._prefix = "emb_" + secrets.token_hex(6)
        self.model = model
        self.dim = None

    async def embed(self, texts: list[str], principal: Principal | None = None) -> Vectors:
        import numpy as np

        body = {"model": self.model, "input": texts}
        call = embeddings_call(f"{self._prefix}{secrets.token_hex(6)}", principal or MASTER, body, None)
        try:
            reply = await self._serve(call)
        except GatewayError as e:
            raise EmbeddingUnavailable(f"The embeddings model '{self.model}' failed: {e}") from e
        if not isinstance(reply, JSONReply):
            raise EmbeddingUnavailable(f"The embeddings model '{self.model}' answered with a stream.")
        rows = from_openai_embeddings(reply.json(), len(texts))
        return unit_rows(np.asarray(rows, dtype=np.float32))


def from_openai_embeddings(payload: Any, count: int) -> list[list[float]]:
    """The vectors of an OpenAI embeddings answer, in input order (`index`)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) != count:
        raise EmbeddingUnavailable("The embeddings answer does not hold one vector per input.")
    ordered = sorted(data, key=lambda d: d.get("index", 0) if isinstance(d, dict) else 0)
    rows = [d.get("embedding") if isinstance(d, dict) else None for d in ordered]
    if not all(isinstance(r, list) and r and all(isinstance(x, (int, float)) for x in r) for r in rows):
        raise EmbeddingUnavailable("The embeddings answer holds a vector that is not a list of numbers.")
    return rows  # type: ignore[return-value]
