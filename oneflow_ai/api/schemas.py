"""Wire schemas for the OpenAPI document. Unknown fields are allowed and passed through upstream.

The hot path does not validate through these models (it checks the few fields it relies on by hand, see
`gateway.call`); they describe the API to readers and to schema-driven tests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(Open):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(Open):
    model: str = Field(min_length=1, examples=["demo"])
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None
    user: str | None = None


class ChatCompletion(Open):
    id: str
    object: str
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class EmbeddingsRequest(Open):
    model: str = Field(min_length=1, examples=["demo-embedding"])
    input: str | list[Any]


class Embeddings(Open):
    object: str
    data: list[dict[str, Any]]
    model: str
    usage: dict[str, Any] | None = None


class Model(Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(Open):
    object: Literal["list"]
    data: list[Model]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    error: ErrorDetail


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "Bad request", 401: "Missing or wrong API key", 404: "Unknown model", 413: "Body too large",
        429: "Rate limit or quota", 502: "Upstream failed", 503: "Upstream unavailable", 504: "Upstream timed out",
    }.items()
}
