"""Operations are declared once (`api.operations.OPERATIONS`): the fast lane's routes, the documented (OpenAPI)
routes and the idempotent paths are all read from that table, so one more entry is one more endpoint in all three."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from oneflow_ai.api import operations
from oneflow_ai.api.fast_lane import Inbound, Reply
from oneflow_ai.api.openai_routes import authenticated
from oneflow_ai.api.operations import OPERATIONS, Docs, Operation, document, fast_routes, idempotent_paths
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.gateway.call import JSONReply
from tests.conftest import MASTER_KEY

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
PER_REQUEST = {
    ("POST", "/chat/completions"),
    ("POST", "/embeddings"),
    ("POST", "/messages"),
    ("POST", "/responses"),
    ("POST", "/messages/count_tokens"),
    ("POST", "/images/generations"),
    ("POST", "/audio/speech"),
    ("POST", "/audio/transcriptions"),
    ("GET", "/models"),
}
MEDIA_PATHS = ("/images/generations", "/audio/speech", "/audio/transcriptions")
"""Idempotent too: an image or a spoken text is paid for once."""


class Counting:
    """A test-only handler: answers how many times it ran."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, inbound: Inbound) -> Reply:
        await authenticated(inbound)
        self.calls += 1
        return JSONReply(b'{"calls": %d}' % self.calls, {})


def probe(handler: Counting) -> Operation:
    return Operation(
        "probe",
        "POST",
        "/probe/generations",
        handler,
        body="json",
        capability="images",
        price_unit="images",
        streams=False,
        idempotent=True,
        docs=Docs("A test-only operation", "Test", ERRORS),
    )


def openapi_routes(table: tuple[Operation, ...]) -> set[tuple[str, str]]:
    app = FastAPI()
    document(app, table)
    return {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}


def test_the_three_lists_are_the_table() -> None:
    declared = {(op.method, prefix + op.path) for op in OPERATIONS for prefix in ("/v1", "/api/v1")}
    assert {(op.method, op.path) for op in OPERATIONS} == PER_REQUEST
    assert set(fast_routes(OPERATIONS)) == declared
    assert openapi_routes(OPERATIONS) == declared
    assert idempotent_paths(OPERATIONS) == {
        "/v1/chat/completions",
        "/api/v1/chat/completions",
        "/v1/embeddings",
        "/api/v1/embeddings",
        *(p + path for p in ("/v1", "/api/v1") for path in MEDIA_PATHS),
    }


def test_one_more_entry_is_in_all_three() -> None:
    handler = Counting()
    table = (*OPERATIONS, probe(handler))
    for path in ("/v1/probe/generations", "/api/v1/probe/generations"):
        assert fast_routes(table)[("POST", path)] is handler
        assert ("POST", path) in openapi_routes(table)
        assert path in idempotent_paths(table)
    not_idempotent = (*OPERATIONS, dataclasses.replace(probe(handler), idempotent=False))
    assert idempotent_paths(not_idempotent) == idempotent_paths(OPERATIONS)


def test_a_streaming_operation_documents_its_event_stream() -> None:
    app = FastAPI()
    document(app, OPERATIONS)
    paths = app.openapi()["paths"]
    chat = paths["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    embeddings = paths["/v1/embeddings"]["post"]["responses"]["200"]["content"]
    assert set(chat) == {"application/json", "text/event-stream"}
    assert set(embeddings) == {"application/json"}


@pytest.fixture
def probed(start_gateway: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Counting]:
    handler = Counting()
    monkeypatch.setattr(operations, "OPERATIONS", (*OPERATIONS, probe(handler)))
    return start_gateway().url, handler


def test_a_declared_operation_is_served_documented_and_idempotent(probed: tuple[str, Counting]) -> None:
    """Through the real app over HTTP: the one entry is served (both prefixes), idempotent and documented."""
    url, handler = probed
    assert httpx.post(url + "/v1/probe/generations", headers=AUTH, json={}).json() == {"calls": 1}
    assert httpx.post(url + "/api/v1/probe/generations", headers=AUTH, json={}).json() == {"calls": 2}
    assert httpx.post(url + "/v1/probe/generations", json={}).status_code == 401  # the handler's own auth
    key = {**AUTH, "idempotency-key": uuid.uuid4().hex}
    first = httpx.post(url + "/v1/probe/generations", headers=key, json={"n": 1})
    again = httpx.post(url + "/v1/probe/generations", headers=key, json={"n": 1})
    assert first.json() == again.json() == {"calls": 3}
    assert again.headers.get_list("idempotent-replayed") == ["true"]
    assert handler.calls == 3
    paths = httpx.get(url + "/openapi.json").json()["paths"]
    assert paths["/v1/probe/generations"]["post"]["summary"] == "A test-only operation"
    assert "post" in paths["/api/v1/probe/generations"]
