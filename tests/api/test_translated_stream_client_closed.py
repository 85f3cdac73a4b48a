"""A translated stream (`/v1/messages` or `/v1/responses` served by an OpenAI-format deployment) whose client left
before it finished is recorded `client_closed`, as a chat stream is (`test_stream_client_closed`): the translating
route hands the relay's `receiver` on, so the relay hears that its client left."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.api.ledger_rows import ledger_rows
from tests.api.test_stream_client_closed import COMPLETION_TOKENS, PROMPT_TOKENS, WholeAnswerUpstream, upstream
from tests.conftest import MASTER_KEY

__all__ = ["upstream"]  # the fixture, used by name


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/messages",
            {"model": "big", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        ),
        ("/v1/responses", {"model": "big", "stream": True, "input": "hi"}),
    ],
)
def test_a_translated_stream_whose_client_left_is_client_closed(
    start_gateway: Any, upstream: WholeAnswerUpstream, tmp_path: Path, path: str, body: dict[str, Any]
) -> None:
    # openai_compatible: an OpenAI-format server, to which a Responses call is translated (only `openai` has it)
    dep = f"provider: openai_compatible, base_url: '{upstream.url}/v1', api_key: env:UPSTREAM_KEY, model: gpt-4o-mini"
    gw = start_gateway(config_yaml=f"models:\n  - {{name: big, deployments: [{{{dep}}}]}}\n")
    sent = json.dumps(body).encode()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing holds little
        s.connect(("127.0.0.1", gw.port))
        s.sendall(
            b"POST %b HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer %b\r\ncontent-length: %d\r\n\r\n%b"
            % (path.encode(), MASTER_KEY.encode(), len(sent), sent)
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert head.startswith(b"HTTP/1.1 200")
        request_id = head.split(b"\r\nx-request-id: ")[1].split(b"\r\n")[0].decode()
        assert upstream.answered.wait(10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close with a reset
    [row] = ledger_rows(f"sqlite:///{tmp_path / 'data' / 'oneflow.db'}", [request_id], wait_s=60)
    assert (row["status"], row["http_status"]) == ("client_closed", 499)
    assert (row["usage_source"], row["input_tokens"], row["output_tokens"]) == (
        "upstream",
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
    )
