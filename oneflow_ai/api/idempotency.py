"""`Idempotency-Key` on the operations declared idempotent (`api.operations`: `POST /v1/chat/completions` and
`POST /v1/embeddings`, and their `/api/v1` twins).

The same key with the same body (byte for byte) within the store's TTL (24 h) gets the first response
again, replayed with `Idempotent-Replayed: true`, without a second upstream call or ledger record; for
a stream, the frames that were relayed are replayed as one SSE body. The same key with another body (or
another route) is a 422. A second request arriving while the first is in flight waits for it. Keys are
scoped to the caller (tenant and key id), so one caller never sees another's response. Only successful
(2xx, complete; a stream ended by `[DONE]`) responses are kept: after a failure the key may be used again.

A pure ASGI middleware: any other request, and any request without the header, passes straight through.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oneflow_ai.api.idempotency_store import IdempotencyStore, StoredResponse
from oneflow_ai.api.multipart import canonical
from oneflow_ai.api.wire import read_body, send_error
from oneflow_ai.errors import GatewayError, IdempotencyConflict, IdempotencyStoreUnavailable, InvalidRequest
from oneflow_ai.gateway.runtime import Gateway

MAX_KEY_LENGTH = 255
REPLAYED = (b"idempotent-replayed", b"true")

log = logging.getLogger("oneflow.idempotency")


class Idempotency:
    def __init__(self, app: ASGIApp, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)
        """The `POST` paths it applies to: the operations declared idempotent (`operations.idempotent_paths`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        key = header(scope, b"idempotency-key")
        store: IdempotencyStore | None = scope.get("state", {}).get("idempotency")
        if key is None or store is None:
            await self.app(scope, receive, send)
            return
        scope["oneflow.route"] = scope["path"]  # for the metrics, also when no route is reached (a replay)
        try:
            await self._serve(scope, receive, send, key, store)
        except GatewayError as e:
            await send_error(send, e)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, key: str, store: IdempotencyStore) -> None:
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.", param="Idempotency-Key")
        gw: Gateway = scope["state"]["gateway"]
        principal = await gw.auth.authenticate(header(scope, b"authorization"), header(scope, b"x-api-key"))
        body = await read_body(receive)
        form = canonical(body, header(scope, b"content-type"))  # a form's boundary differs each time it is sent
        fingerprint = hashlib.sha256(scope["path"].encode() + b"\0" + form).hexdigest()
        scoped = hashlib.sha256(f"{principal.tenant_id}\0{principal.key_id}\0{key}".encode()).hexdigest()
        try:
            stored = await store.claim(scoped, fingerprint)
        except GatewayError:
            raise
        except Exception as e:  # the store (Redis) failed: refuse rather than risk a second charge
            log.warning("idempotency store failed: %s", type(e).__name__)
            raise IdempotencyStoreUnavailable("The idempotency store is unavailable; retry later.") from None
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise IdempotencyConflict("This Idempotency-Key was already used with a different request.")
            await replay(send, stored)
            return
        captured = Captured()
        try:
            await self.app(scope, replaying(body, receive), captured.wrap(send))
        finally:
            await settle(store, scoped, fingerprint, captured)


async def settle(store: IdempotencyStore, key: str, fingerprint: str, captured: Captured) -> None:
    """Keep a complete 2xx response; release the key otherwise. The client has its answer by now, so a
    store failure is logged, not raised."""
    try:
        body = b"".join(captured.body)
        if captured.complete and 200 <= captured.status < 300 and not _failed_stream(captured.headers, body):
            await store.complete(key, StoredResponse(fingerprint, captured.status, captured.headers, body))
        else:
            await store.release(key)
    except Exception as e:
        log.warning("idempotency store failed to keep a response: %s", type(e).__name__)


def _failed_stream(headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """A stream is a success only when it ended with `data: [DONE]`: one that failed after its first byte ends
    with an error event instead (HTTP 200 had already gone out)."""
    streamed = any(k == b"content-type" and v.startswith(b"text/event-stream") for k, v in headers)
    return streamed and not body.rstrip().endswith(b"data: [DONE]")


class Captured:
    """The response as it was sent to the client."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False

    def wrap(self, send: Send) -> Send:
        async def capturing(message: Message) -> None:
            # Taken before sending: the edge outside adds its own headers (request id, security) to the message.
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = list(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                self.body.append(message.get("body", b""))
                self.complete = not message.get("more_body", False)
            await send(message)

        return capturing


async def replay(send: Send, stored: StoredResponse) -> None:
    await send({"type": "http.response.start", "status": stored.status, "headers": [*stored.headers, REPLAYED]})
    await send({"type": "http.response.body", "body": stored.body})


def replaying(body: bytes, receive: Receive) -> Receive:
    """The body, already read, once; then the client's own messages (its disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return None
