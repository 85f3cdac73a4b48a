"""Wire schemas for the OpenAPI document. Unknown fields are allowed and passed through upstream.

The hot path does not validate through these models (it checks the few fields it relies on by hand, see
`gateway.call`); they describe the API to readers and to schema-driven tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oneflow_ai.gateway.call import MAX_TOKENS

Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
"""A token count a client names: at most `MAX_TOKENS` (a larger one is a 400, never a 500 from JSON or SQL)."""
CompletionLimit = Annotated[int, Field(ge=1, le=MAX_TOKENS)]


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
    max_tokens: CompletionLimit | None = None
    max_completion_tokens: CompletionLimit | None = None
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
    schema = model.model_json_schema()
    schema = _inlined(schema, schema.pop("$defs", {}))  # `#/$defs/...` would not resolve inside the OpenAPI document
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inlined(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(v, defs) for v in node]
    return node


class AnthropicErrorDetail(BaseModel):
    type: str
    message: str


class AnthropicErrorBody(BaseModel):
    type: Literal["error"]
    error: AnthropicErrorDetail


ERROR_STATUSES = {
    400: "Bad request",
    401: "Missing or wrong API key",
    403: "Not allowed for this key",
    404: "Unknown model",
    413: "Body too large",
    422: "Idempotency-Key reused with another request",
    429: "Rate limit or quota",
    502: "Upstream failed",
    503: "Upstream unavailable",
    504: "Upstream timed out",
}
ERROR_MODELS: tuple[type[BaseModel], ...] = (ErrorBody, AnthropicErrorBody)
"""The error bodies the documented responses refer to: `/openapi.json` lists them once (`with_error_schemas`)."""
COMPONENTS = "#/components/schemas/"


def error_response(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A documented error response whose body is `model`, by reference to the document's components.

    Not FastAPI's `{"model": ...}`: for that it builds a pydantic validator and serializer per status per route,
    used for nothing but the document (684 of them, 4.2 MiB of every worker's memory)."""
    ref = {"$ref": f"{COMPONENTS}{model.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def with_error_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """`document` (an OpenAPI document) with the schemas of `ERROR_MODELS` among its components."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in ERROR_MODELS:
        schema = model.model_json_schema(ref_template=COMPONENTS + "{model}", mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return document


ERRORS: dict[int | str, dict[str, Any]] = {
    status: error_response(ErrorBody, text) for status, text in ERROR_STATUSES.items()
}
ANTHROPIC_ERRORS: dict[int | str, dict[str, Any]] = {
    status: error_response(AnthropicErrorBody, text) for status, text in ERROR_STATUSES.items()
}
