"""One JSON log line per request; no secret in any log line (stderr of `oneflow serve`, and log records)."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from oneflow_ai.logs import JSONFormatter
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.observability.conftest import AUTH, ServeFactory, chat, upstream_config

WRONG_KEY = "sk-wrong-key-9f8e7d6c5b4a3210"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNlY3JldC0xMjM0NTY3ODkw"
PASSWORD = "hunter2-correct-horse-battery"
PROVIDER_KEY = "sk-proj-provider-secret-7777777777"
SECRETS = (MASTER_KEY, UPSTREAM_KEY, WRONG_KEY, JWT, PASSWORD, PROVIDER_KEY)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    """Every record of every logger we know; install after the gateway started (it sets its handlers then)."""
    handler = Records()
    loggers = [
        logging.getLogger(),
        logging.getLogger("oneflow"),
        logging.getLogger("uvicorn"),
        logging.getLogger("uvicorn.error"),
    ]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def request_lines(text: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "oneflow.request"]


def send_secrets(url: str) -> set[str]:
    """Requests carrying every secret we know of, in every place a client may put one; returns the secrets the
    gateway issued on the way (a JWT pair, a virtual key)."""
    basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert chat(url, "mini", "hi").status_code == 200
    assert chat(url, "mini", "hi", stream=True).status_code == 200
    assert chat(url, "broken", "hi").status_code == 502
    for headers in (
        {"authorization": f"Bearer {WRONG_KEY}"},
        {"authorization": f"Bearer {JWT}"},
        {"x-api-key": WRONG_KEY},
        {"authorization": f"Basic {basic}"},
    ):
        r = httpx.post(
            url + "/v1/chat/completions",
            headers=headers,
            json={"model": "mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 401
    jwt = {"authorization": f"Bearer {JWT}"}
    assert httpx.get(url + "/api/v1/admin/features/status", headers=jwt).status_code == 401
    assert (
        httpx.post(
            url + "/v1/chat/completions", headers={**AUTH, "content-type": "application/json"}, content=b"{not json"
        ).status_code
        == 400
    )
    user = {"name": "Alice", "email": "alice@example.com", "password": PASSWORD}
    assert httpx.post(url + "/api/v1/admin/auth/register", headers=AUTH, json=user).status_code == 201
    login = {"email": user["email"], "password": PASSWORD}
    tokens = httpx.post(url + "/api/v1/admin/auth/login", json=login).json()
    wrong = httpx.post(url + "/api/v1/admin/auth/login", json={**login, "password": PASSWORD + "-wrong"})
    assert wrong.status_code == 401
    key = httpx.post(url + "/api/v1/admin/api-keys", headers=AUTH, json={"name": "ci"}).json()["key"]
    assert chat(url, "mini", "hi", headers={"authorization": f"Bearer {key}"}).status_code == 200
    assert (
        httpx.get(
            url + "/api/v1/admin/auth/me", headers={"authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 200
    )
    return {tokens["access_token"], tokens["refresh_token"], key, PASSWORD + "-wrong"}


def test_no_secret_reaches_the_logs_of_oneflow_serve(serve: ServeFactory, openai_upstream: Any) -> None:
    served = serve(
        config_yaml=upstream_config(openai_upstream[1].url),
        env={"ONEFLOW_LOG_LEVEL": "DEBUG", "OPENAI_API_KEY": PROVIDER_KEY},
    )
    issued = send_secrets(served.url)
    served.stop()
    output = served.output()
    assert len(request_lines(output)) >= 3  # the log was on, and we read it
    for secret in (*SECRETS, *issued):
        assert secret not in output
        assert secret[:16] not in output


@pytest.fixture
def debug_gateway(start_gateway: Any, openai_upstream: Any) -> str:
    return str(
        start_gateway(
            config_yaml=upstream_config(openai_upstream[1].url), env={"OPENAI_API_KEY": PROVIDER_KEY}, log_level="DEBUG"
        ).url
    )


def test_no_secret_in_any_log_record(debug_gateway: str, records: Records) -> None:
    issued = send_secrets(debug_gateway)
    formatter = JSONFormatter()
    text = "\n".join(formatter.format(r) + repr(r.__dict__) for r in records.records)
    assert "oneflow.request" in text
    for secret in (*SECRETS, *issued):
        assert secret not in text


def test_one_json_line_per_request(serve: ServeFactory, openai_upstream: Any) -> None:
    served = serve(config_yaml=upstream_config(openai_upstream[1].url))
    ids = [
        chat(served.url, "mini", "hi", headers={"x-request-id": f"rid-{uuid.uuid4().hex}"}).headers["x-request-id"]
        for _ in range(3)
    ]
    with httpx.stream(
        "POST",
        served.url + "/v1/chat/completions",
        headers=AUTH,
        json={"model": "mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        ids.append(r.headers["x-request-id"])
        list(r.iter_lines())
    served.stop()
    # lines by the id the client saw: its own when it sent one (`client_request_id`), else the gateway's
    lines = {line.get("client_request_id") or line["request_id"]: line for line in request_lines(served.output())}
    assert set(ids) <= set(lines) and len([i for i in lines if i in ids]) == 4
    line = lines[ids[0]]
    assert line["model"] == "mini" and line["provider"] == "openai_compatible" and line["status"] == "ok"
    assert (line["input_tokens"], line["output_tokens"]) == (11, 7) and float(line["cost_usd"]) > 0
    assert line["key"] == "master" and line["latency_ms"] > 0 and line["level"] == "INFO"
    assert lines[ids[3]]["streamed"] is True and lines[ids[3]]["ttft_ms"] > 0


def test_level_and_format_apply(serve: ServeFactory) -> None:
    quiet = serve(env={"ONEFLOW_LOG_LEVEL": "WARNING"})
    chat(quiet.url, "demo", "hi")
    quiet.stop()
    assert request_lines(quiet.output()) == [] and '"logger":"oneflow.request"' not in quiet.output()
    text = serve(env={"ONEFLOW_LOG_FORMAT": "text"})
    chat(text.url, "demo", "hi")
    text.stop()
    assert " INFO oneflow.request request" in text.output() and request_lines(text.output()) == []


def test_a_request_line_skips_log_records_only_where_nothing_else_would_see_them() -> None:
    import io

    from oneflow_ai.logs import FIELDS, BufferedHandler, direct_handler

    root = logging.getLogger(f"t{uuid.uuid4().hex}")
    child = logging.getLogger(root.name + ".request")
    root.propagate = False
    root.setLevel(logging.INFO)
    stream = io.StringIO()
    handler = BufferedHandler(stream, interval_s=60)
    handler.setFormatter(JSONFormatter())
    root.addHandler(handler)
    try:
        assert direct_handler(child) is handler
        values: dict[str, object] = {"request_id": "req_1", "cost_usd": "0.000150", "latency_ms": 1.25}
        handler.emit_info(child.name, "request", values)
        record = logging.LogRecord(child.name, logging.INFO, "", 0, "request", None, None)
        setattr(record, FIELDS, values)
        child.handle(record)
        handler.flush()
        direct, standard = (json.loads(line) for line in stream.getvalue().splitlines())
        assert direct.pop("time")[:4] == standard.pop("time")[:4]
        assert direct == standard == {"level": "INFO", "logger": child.name, "message": "request", **values}

        other = Records()
        child.addHandler(other)  # someone else listens: the standard way
        assert direct_handler(child) is None
        child.removeHandler(other)
        root.addFilter(lambda r: True)  # a filter could drop the line: the standard way
        assert direct_handler(child) is None
        root.filters.clear()
        handler.setFormatter(logging.Formatter("%(message)s"))  # text lines
        assert direct_handler(child) is None
        handler.setFormatter(JSONFormatter())
        root.propagate = True  # the root logger's handlers would see it too
        logging.getLogger().addHandler(other)
        assert direct_handler(child) is None
        logging.getLogger().removeHandler(other)
    finally:
        root.removeHandler(handler)
        handler.close()
