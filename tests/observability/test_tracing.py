"""Traces with an in-memory exporter: the client's `traceparent` is continued, spans carry the GenAI
attributes, and the upstream receives a `traceparent` of the same trace. Off by default."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from oneflow_ai.observability import tracing
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.observability.conftest import AUTH, upstream_config

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    monkeypatch.setattr(tracing, "span_processor", lambda settings: SimpleSpanProcessor(memory))
    return memory


@pytest.fixture
def traced(start_gateway: Any, openai_upstream: Any, exporter: InMemorySpanExporter) -> str:
    return str(start_gateway(config_yaml=upstream_config(openai_upstream[1].url), otel_enabled=True).url)


def spans_of(exporter: InMemorySpanExporter, trace_id: str, until: str, timeout_s: float = 30) -> list[ReadableSpan]:
    """The finished spans of one trace, once the span named `until` has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        spans = [
            s for s in exporter.get_finished_spans() if s.context and format(s.context.trace_id, "032x") == trace_id
        ]
        if any(s.name == until for s in spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.01)  # not a busy loop: the gateway's thread needs the interpreter to end the span


def upstream_request(upstream: Any, marker: str) -> dict[str, Any]:
    [found] = [r for r in upstream.received if marker in str(r["body"])]
    return found  # type: ignore[no-any-return]


def test_a_request_continues_the_clients_trace_and_passes_it_upstream(
    traced: str, exporter: InMemorySpanExporter, openai_upstream: Any
) -> None:
    marker = uuid.uuid4().hex
    r = httpx.post(
        traced + "/v1/chat/completions",
        headers={**AUTH, "traceparent": TRACEPARENT},
        json={"model": "mini", "messages": [{"role": "user", "content": marker}]},
    )
    assert r.status_code == 200
    spans = {s.name: s for s in spans_of(exporter, TRACE_ID, "POST /v1/chat/completions")}
    assert {"POST /v1/chat/completions", "auth", "route", "chat gpt-4o-mini"} <= set(spans)
    server, attempt = spans["POST /v1/chat/completions"], spans["chat gpt-4o-mini"]
    assert server.parent is not None and format(server.parent.span_id, "016x") == "b7ad6b7169203331"
    assert server.attributes is not None and server.attributes["http.route"] == "/v1/chat/completions"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["oneflow.request_id"] == r.headers["x-request-id"]
    for child in ("auth", "route", "chat gpt-4o-mini"):
        parent = spans[child].parent
        assert parent is not None and server.context is not None and parent.span_id == server.context.span_id
    attrs = attempt.attributes or {}
    assert attrs["gen_ai.system"] == "openai" and attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini" and attrs["gen_ai.response.model"] == "gpt-4o-mini"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (11, 7)

    sent = upstream_request(openai_upstream[0], marker)["headers"]
    _, trace_id, parent_id, _ = sent["traceparent"].split("-")
    assert attempt.context is not None
    assert trace_id == TRACE_ID and parent_id == format(attempt.context.span_id, "016x")
    for span in spans.values():  # no secret on any span
        assert MASTER_KEY not in str(span.attributes) and UPSTREAM_KEY not in str(span.attributes)


def test_a_stream_span_ends_with_the_stream_and_failed_attempts_are_marked(
    traced: str, exporter: InMemorySpanExporter
) -> None:
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    with httpx.stream(
        "POST",
        traced + "/v1/chat/completions",
        headers={**AUTH, "traceparent": parent},
        json={"model": "mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        assert list(r.iter_lines())
    spans = {s.name: s for s in spans_of(exporter, trace_id, "POST /v1/chat/completions")}
    assert (spans["chat gpt-4o-mini"].attributes or {})["gen_ai.usage.output_tokens"] == 7

    trace_id = uuid.uuid4().hex
    r2 = httpx.post(
        traced + "/v1/chat/completions",
        headers={**AUTH, "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
        json={"model": "broken", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r2.status_code == 502
    failed = [s for s in spans_of(exporter, trace_id, "POST /v1/chat/completions") if s.name == "chat fake-error-500"]
    assert failed and all(not s.status.is_ok and (s.attributes or {})["error.type"] == "upstream_error" for s in failed)


def test_a_wrong_key_makes_a_failed_auth_span_without_the_key(traced: str, exporter: InMemorySpanExporter) -> None:
    trace_id = uuid.uuid4().hex
    r = httpx.get(
        traced + "/v1/models",
        headers={
            "authorization": "Bearer sk-wrong-0123456789abcdef",
            "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01",
        },
    )
    assert r.status_code == 401
    spans = {s.name: s for s in spans_of(exporter, trace_id, "GET /v1/models")}
    assert not spans["auth"].status.is_ok
    assert "sk-wrong" not in str([(s.attributes, s.status.description, s.events) for s in spans.values()])


def test_tracing_is_off_by_default(start_gateway: Any, openai_upstream: Any, exporter: InMemorySpanExporter) -> None:
    url = start_gateway(config_yaml=upstream_config(openai_upstream[1].url)).url
    marker = uuid.uuid4().hex
    httpx.post(
        url + "/v1/chat/completions",
        headers={**AUTH, "traceparent": TRACEPARENT},
        json={"model": "mini", "messages": [{"role": "user", "content": marker}]},
    )
    assert "traceparent" not in {k.lower() for k in upstream_request(openai_upstream[0], marker)["headers"]}
    assert exporter.get_finished_spans() == ()
