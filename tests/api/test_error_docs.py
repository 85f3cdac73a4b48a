"""The documented error responses refer to the error bodies in the document's components, and the app builds no
pydantic field per documented error (FastAPI's `{"model": ErrorBody}` made 684 of them: 4.2 MiB per worker)."""

from __future__ import annotations

import gc
from typing import Any

from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from oneflow_ai.api.schemas import ERRORS, ErrorBody
from oneflow_ai.app import create_app


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_reference_in_the_document_resolves_and_errors_name_their_body(tmp_path: Any) -> None:
    env = {"ONEFLOW_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/gw.db"}
    with TestClient(create_app(environ=env), base_url="http://127.0.0.1") as client:
        document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for ref in set(refs(document)):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    assert schemas["ErrorBody"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert set(schemas["ErrorDetail"]["required"]) == {"message", "type", "param", "code"}
    assert schemas["AnthropicErrorBody"]["properties"]["type"]["const"] == "error"
    chat_400 = document["paths"]["/v1/chat/completions"]["post"]["responses"]["400"]
    assert chat_400["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    messages_429 = document["paths"]["/v1/messages"]["post"]["responses"]["429"]
    assert messages_429["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AnthropicErrorBody"}
    login_401 = document["paths"]["/api/v1/admin/auth/login"]["post"]["responses"]["401"]
    assert login_401["description"] == "Missing or invalid credentials"


def test_no_route_keeps_a_pydantic_field_for_a_documented_error(tmp_path: Any) -> None:
    create_app(environ={"ONEFLOW_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/gw.db"})
    routes = [o for o in gc.get_objects() if isinstance(o, APIRoute)]
    assert routes
    documented = [(r.path, status) for r in routes for status in r.response_fields if status in ERRORS]
    assert not documented, documented[:5]
    assert all(f.field_info.annotation is not ErrorBody for r in routes for f in r.response_fields.values())
