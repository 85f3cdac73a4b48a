"""Where the text is in a request or a reply, whatever its protocol, and how to put changed text back.

One walk serves every shape the gateway sees: OpenAI chat (`messages[].content`, a string or parts with `text`,
tool calls' `arguments`), the Responses API (`input`, `instructions`, `output[].content[].text`), embeddings
(`input`), Anthropic Messages (`system`, `messages[].content[]` blocks, `content[].text`), and chat completions
(`choices[].message`). Strings under the keys in `TEXT_KEYS` (or items of a list under them) are text; files are
base64 data URLs (`image_url.url`, `file.file_data`) or Anthropic's base64 `source` blocks.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

Path = tuple[str | int, ...]

REQUEST_ROOTS = ("messages", "input", "instructions", "system", "prompt")
REPLY_ROOTS = ("choices", "output", "content", "output_text")
TEXT_KEYS = frozenset(
    {"content", "text", "arguments", "input", "instructions", "system", "prompt", "output_text", "refusal"}
)
SKIPPED = frozenset({"image_url", "file", "source", "input_image", "input_file", "file_data", "data", "url"})
"""Keys whose strings are never text (they hold files, handled by `files`)."""


@dataclass(frozen=True, slots=True)
class Blob:
    """A file carried in the body: its bytes, and its media type when it says (`image/png`, `application/pdf`)."""

    path: Path
    data: bytes
    media_type: str | None
    filename: str | None = None


def texts(body: Any, roots: tuple[str, ...]) -> list[tuple[Path, str]]:
    """Every text of the body under `roots`, with its path."""
    if not isinstance(body, dict):
        return []
    out: list[tuple[Path, str]] = []
    for root in roots:
        if root in body:
            _walk(body[root], (root,), root in TEXT_KEYS, out)
    return out


def _walk(value: Any, path: Path, is_text: bool, out: list[tuple[Path, str]]) -> None:
    if isinstance(value, str):
        if is_text and value:
            out.append((path, value))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if type(item) is str:  # inline: most items of a chat are strings or small dicts (no call per string)
                if is_text and item:
                    out.append(((*path, i), item))
            else:
                _walk(item, (*path, i), is_text, out)
    elif isinstance(value, dict):
        for key, item in value.items():
            if type(item) is str:  # a key of SKIPPED is never in TEXT_KEYS
                if item and key in TEXT_KEYS:
                    out.append(((*path, key), item))
            elif key not in SKIPPED:
                _walk(item, (*path, key), key in TEXT_KEYS, out)


def replaced(body: dict[str, Any], changes: dict[Path, str]) -> dict[str, Any]:
    """A copy of `body` with the text at each path replaced; the roots touched are copied, the caller's object and
    everything else are left as they are."""
    roots = {str(path[0]) for path in changes}
    copy: dict[str, Any] = {**body}
    for root in roots:
        if not isinstance(body[root], str):
            copy[root] = orjson.loads(orjson.dumps(body[root]))
    for path, text in changes.items():
        if len(path) == 1:
            copy[str(path[0])] = text
            continue
        node: Any = copy
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = text
    return copy


def files(body: Any, roots: tuple[str, ...] = REQUEST_ROOTS) -> Iterator[Blob]:
    """The files the body carries inline (base64), under `roots`."""
    if not isinstance(body, dict):
        return
    stack: list[tuple[Any, Path]] = [(body[r], (r,)) for r in roots if r in body]
    while stack:
        value, path = stack.pop()
        if isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))
            continue
        if not isinstance(value, dict):
            continue
        blob = _blob(value, path)
        if blob is not None:
            yield blob
        stack.extend((item, (*path, k)) for k, item in value.items() if isinstance(item, (dict, list)))


def _blob(part: dict[str, Any], path: Path) -> Blob | None:
    url = part.get("url") if isinstance(part.get("url"), str) else part.get("image_url")
    if isinstance(url, str) and url.startswith("data:"):
        return _data_url(url, path, None)
    data = part.get("file_data")
    if isinstance(data, str):
        filename = part.get("filename") if isinstance(part.get("filename"), str) else None
        if data.startswith("data:"):
            return _data_url(data, path, filename)
        return _decoded(data, path, None, filename)
    if part.get("type") == "base64" and isinstance(part.get("data"), str):  # an Anthropic `source`
        media = part.get("media_type")
        return _decoded(part["data"], path, media if isinstance(media, str) else None, None)
    return None


def _data_url(url: str, path: Path, filename: str | None) -> Blob | None:
    head, _, payload = url[5:].partition(",")
    if not head.endswith(";base64"):
        return None
    return _decoded(payload, path, head.removesuffix(";base64") or None, filename)


def _decoded(payload: str, path: Path, media_type: str | None, filename: str | None) -> Blob | None:
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return None
    return Blob(path, data, media_type, filename) if data else None
