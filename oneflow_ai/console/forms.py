"""Reading a posted form (`application/x-www-form-urlencoded`, what a plain HTML form sends) within limits.

The body is already bounded by the edge (`ONEFLOW_MAX_BODY_BYTES`); a form has at most `MAX_FIELDS` fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.requests import Request

from oneflow_ai.errors import InvalidRequest

MAX_FIELDS = 200
URLENCODED = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class FormData:
    fields: tuple[tuple[str, str], ...]

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.fields:
            if key == name:
                return value
        return default

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name]

    def optional(self, name: str) -> str | None:
        """The field stripped, or None when absent or blank."""
        value = self.get(name).strip()
        return value or None


async def read_form(request: Request) -> FormData:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if not body:
        return FormData(())
    if kind != URLENCODED:
        raise InvalidRequest(f"A form must be sent as {URLENCODED}.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The form could not be read.") from None
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise InvalidRequest("The form must not contain NUL characters.")
    return FormData(tuple(pairs))


def first_error(e: ValidationError) -> str:
    """The first problem pydantic found, as a sentence for the page ("email: not a valid e-mail address")."""
    first = e.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
