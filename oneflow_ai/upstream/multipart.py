"""`multipart/form-data` (RFC 7578) as the upstreams take it: an uploaded file (`FormFile`) and the encoder of a
form, for the requests a provider sends that way (OpenAI's transcriptions, Stability's image generation).

Pure: values in, bytes out. The boundary is drawn from the operating system's randomness and checked not to occur
in any part, as the RFC asks.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FormFile:
    """A file part: its name as the client gave it, its declared type and its bytes."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


FormValue = str | FormFile


def encode_form(parts: Iterable[tuple[str, FormValue]]) -> tuple[str, bytes]:
    """The form's `content-type` (with its boundary) and body, the parts in the order given."""
    items = list(parts)
    boundary = _boundary(items)
    out: list[bytes] = []
    for name, value in items:
        out.append(b"--" + boundary + b"\r\n")
        if isinstance(value, FormFile):
            out.append(
                b'content-disposition: form-data; name="%s"; filename="%s"\r\ncontent-type: %s\r\n\r\n'
                % (_quoted(name), _quoted(value.filename), value.content_type.encode("latin-1"))
            )
            out.append(value.data)
        else:
            out.append(b'content-disposition: form-data; name="%s"\r\n\r\n' % _quoted(name))
            out.append(value.encode())
        out.append(b"\r\n")
    out.append(b"--" + boundary + b"--\r\n")
    return f"multipart/form-data; boundary={boundary.decode()}", b"".join(out)


def _boundary(items: list[tuple[str, FormValue]]) -> bytes:
    while True:
        boundary = b"oneflow-" + secrets.token_hex(16).encode()
        if not any(boundary in (v.data if isinstance(v, FormFile) else v.encode()) for _, v in items):
            return boundary


def _quoted(text: str) -> bytes:
    """A name or file name inside double quotes, escaped as httpx (the OpenAI SDK's client) escapes it: a backslash
    doubled, quotes and line ends percent-encoded as browsers do."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode()
