"""Parsing a `multipart/form-data` body (RFC 7578), for the operations whose body is a form (audio
transcription), within limits: how many parts, how large a text field, how large a file. The body itself is
bounded by the edge (`ONEFLOW_MAX_BODY_BYTES`) before it gets here.

Pure: the body read by `api.wire.read_body` and its `content-type` in, the parts out, in their order (a field may
repeat: `timestamp_granularities[]`). A malformed form is a 400, a part over its limit a 413.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oneflow_ai.errors import InvalidRequest, PayloadTooLarge
from oneflow_ai.upstream.multipart import FormFile, FormValue

MAX_PARTS = 64
MAX_FIELD_BYTES = 64 * 1024
MAX_FILE_BYTES = 25 * 1024 * 1024
"""OpenAI's own limit on an uploaded audio file."""

_PARAM = re.compile(r';\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


@dataclass(frozen=True, slots=True)
class Form:
    parts: tuple[tuple[str, FormValue], ...]

    def text(self, name: str) -> str | None:
        """The first text field named `name`."""
        return next((v for n, v in self.parts if n == name and isinstance(v, str)), None)

    def file(self, name: str) -> FormFile | None:
        return next((v for n, v in self.parts if n == name and isinstance(v, FormFile)), None)


def parse_form(
    body: bytes,
    content_type: str | None,
    *,
    max_parts: int = MAX_PARTS,
    max_field_bytes: int = MAX_FIELD_BYTES,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> Form:
    boundary = _boundary(content_type)
    delimiter = b"--" + boundary
    separator = b"\r\n" + delimiter
    start = body.find(delimiter)
    if start < 0:
        raise _malformed("it has no part")
    pos = start + len(delimiter)
    parts: list[tuple[str, FormValue]] = []
    while not body.startswith(b"--", pos):
        if not body.startswith(b"\r\n", pos):
            raise _malformed("a boundary is not followed by a line end")
        if len(parts) == max_parts:
            raise PayloadTooLarge(f"The form has more than {max_parts} parts.")
        head_end = body.find(b"\r\n\r\n", pos)
        end = body.find(separator, head_end + 4) if head_end >= 0 else -1
        if end < 0:
            raise _malformed("a part does not end with the boundary")
        name, filename, part_type = _disposition(body[pos + 2 : head_end])
        content = body[head_end + 4 : end]
        if filename is None:
            if len(content) > max_field_bytes:
                raise PayloadTooLarge(f"The form field '{name}' is larger than {max_field_bytes} bytes.")
            try:
                parts.append((name, content.decode()))
            except UnicodeDecodeError:
                raise _malformed(f"the field '{name}' is not UTF-8 text") from None
        else:
            if len(content) > max_file_bytes:
                raise PayloadTooLarge(f"The file '{name}' is larger than {max_file_bytes} bytes.")
            parts.append((name, FormFile(filename, part_type or "application/octet-stream", content)))
        pos = end + len(separator)
    return Form(tuple(parts))


def canonical(body: bytes, content_type: str | None) -> bytes:
    """A form's body with its boundary taken out, so that the same form sent again (a client draws a new boundary
    each time) is the same bytes: what `Idempotency-Key` compares. Any other body is returned as it is."""
    if not (content_type or "").lower().startswith("multipart/form-data"):
        return body
    try:
        return body.replace(_boundary(content_type), b"")
    except InvalidRequest:
        return body


def _boundary(content_type: str | None) -> bytes:
    kind, _, rest = (content_type or "").partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise InvalidRequest(
            "The request body must be multipart/form-data (a file upload).", code="invalid_content_type"
        )
    boundary = _params(";" + rest).get("boundary", "")
    if not 1 <= len(boundary) <= 70:
        raise _malformed("its content-type has no valid boundary")
    return boundary.encode("latin-1")


def _disposition(head: bytes) -> tuple[str, str | None, str | None]:
    """The part's field name, file name (None for a text field) and content type, from its headers."""
    disposition = None
    part_type = None
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "content-disposition":
            disposition = value
        elif key == "content-type":
            part_type = value.strip()
    kind, _, rest = (disposition or "").partition(";")
    params = _params(";" + rest)
    name = params.get("name")
    if kind.strip().lower() != "form-data" or not name:
        raise _malformed("a part has no content-disposition: form-data with a name")
    return name, params.get("filename"), part_type


def _params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in _PARAM.findall(text):
        value = value.strip()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.setdefault(key.lower(), value)
    return out


def _malformed(why: str) -> InvalidRequest:
    return InvalidRequest(f"The multipart/form-data body is malformed: {why}.", code="invalid_multipart")
