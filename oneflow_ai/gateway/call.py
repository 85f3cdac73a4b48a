"""What one request is, once parsed and authenticated, and what the pipeline answers."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from oneflow_ai.auth.principal import Principal
from oneflow_ai.cache.directives import take as take_cache_field
from oneflow_ai.errors import InvalidRequest, Untranslatable
from oneflow_ai.pricing import TokenCounter
from oneflow_ai.providers.native import NativeProtocol
from oneflow_ai.routing.strategy import ordering
from oneflow_ai.upstream.multipart import FormFile


@dataclass(slots=True, frozen=True)
class NativeBody:
    """The caller's request in its own protocol (`protocol`: Anthropic's Messages, OpenAI's Responses): a deployment
    the protocol serves is sent it as it is (`body`, gateway fields taken out, with the caller's protocol
    `headers`), untranslated; any other deployment is sent the call's OpenAI `body`."""

    protocol: NativeProtocol
    body: dict[str, Any]
    headers: Mapping[str, str]
    untranslatable: Untranslatable | None = None
    """Why the body has no OpenAI form (a server tool, say), when it has none: then only a deployment the protocol
    serves can serve the call, and the call's OpenAI `body` is a stand-in for the checks and the estimate."""

    @property
    def wire(self) -> str:
        """The protocol's name (`anthropic`, `responses`): the `wire` of a reply a deployment served natively."""
        return self.protocol.name


@dataclass(slots=True)
class Call:
    request_id: str
    principal: Principal
    endpoint: str
    body: dict[str, Any]
    model: str
    stream: bool = False
    wants_usage: bool = False
    end_user: str | None = None
    fallbacks: tuple[str, ...] = ()
    strategy: str | None = None
    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    tokens_estimate: tuple[int, int] | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    """Headers admissions add to the reply (e.g. `x-ratelimit-*`); the pipeline merges them into it."""
    client_request_id: str | None = None
    """The client's own `x-request-id`, for the logs (never a key: `request_id` is the gateway's, unique)."""
    balancer_id: str | None = None
    """The load balancer's id for this client request, the same on every replica it is sent to
    (`gateway.balancer_claim`)."""
    native: NativeBody | None = None
    """The caller's own request, when it speaks a protocol other than OpenAI's (`/v1/messages`)."""
    upload: FormFile | None = None
    """The uploaded file of a call whose body is a form (a transcription's audio); its text fields are `body`."""
    guard: Any = None
    """The guardrails' state for this call (`guardrails.engine.CallGuard`), from the input stage to the output's."""
    guardrail: str | None = None
    """The guardrail policies and entity types that acted on the call (`pci_dss:CREDIT_CARD`), for the ledger."""
    guardrail_action: str | None = None
    """The strongest guardrail action taken (`block`, `redact`, `mask`, `warn`, `log`), for the ledger."""
    cache: dict[str, Any] | None = None
    """The body's `cache` field (`cache.directives`), taken out of the body at the edge so no upstream sees it."""
    cache_control: str | None = None
    """The request's `Cache-Control` header, for the response cache."""
    experiment: str | None = None
    """The A/B experiment that chose this call's model group (its id, for the ledger), if one did."""
    variant: str | None = None
    """That experiment's variant (its name)."""


@dataclass(slots=True)
class JSONReply:
    """A complete reply: its bytes, sent as they are (`body`), and the same body parsed (`json()`), once, when a
    stage first looks inside, or never (a reply nothing reads goes out untouched, as httpx's `Response.content`
    and `.json()`). Who made the reply from a value it had parsed already passes it (`_parsed`) so that nobody
    parses it again. A stage that rewrites a reply makes a new one: `body` and its parse must stay the same value."""

    body: bytes
    headers: Mapping[str, str]
    status: int = 200
    wire: str = "openai"
    """The protocol the body speaks: `openai`, or the caller's own when a deployment served its `NativeBody`."""
    _parsed: Any = field(default=None, repr=False, compare=False, kw_only=True)
    """`body` parsed, once it was (None until then)."""

    def json(self) -> Any:
        """The body, parsed on the first call only (`orjson.JSONDecodeError` if it is not JSON)."""
        if self._parsed is None:
            self._parsed = orjson.loads(self.body)
        return self._parsed


@dataclass(slots=True)
class Receiver:
    """A stream's client, as the one sending the stream sees it."""

    left: bool = False
    """The client disconnected. The relay reads it when the upstream finished: a stream whose client had gone by
    then is recorded `client_closed`, not `ok` (and charged the upstream's usage, since all of it was produced)."""


@dataclass(slots=True)
class StreamReply:
    frames: AsyncIterator[bytes]
    headers: Mapping[str, str]
    receiver: Receiver = field(default_factory=Receiver)
    wire: str = "openai"
    """The protocol the frames speak, as `JSONReply.wire`."""


DEFAULT_COMPLETION_ESTIMATE = 256
"""Completion tokens assumed before a call that sets no `max_tokens`."""

MAX_END_USER = 256
"""Characters of an end-user id: what the ledger's `end_user` column (and its aggregates') holds."""
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f]")
"""Never in an end-user id: NUL cannot be stored as text by PostgreSQL, and none belongs in a log line or a report."""

MAX_TOKENS = 2**31 - 1
"""The largest token count a request may name (`max_tokens`, an estimate's counts): a 32-bit integer like the
ledger's token columns, far above any model's window. A larger or non-integer value is a 400, never a guess."""

COMPLETION_LIMITS = ("max_completion_tokens", "max_tokens")

MEDIA_ENDPOINTS = frozenset({"images", "speech", "transcription"})
"""The calls priced in images, characters or seconds (`gateway.media`) rather than tokens."""

GATEWAY_FIELDS = ("fallbacks", "strategy")
"""Body fields that steer the gateway; they are taken out before the body goes upstream."""


def estimated_tokens(call: Call, tokens: TokenCounter) -> tuple[int, int]:
    """(prompt, completion) tokens expected before the call, by `tokens` (the gateway's `estimates`: no tokenizer
    unless the config chose one); counted once per call."""
    if call.tokens_estimate is None:
        body = call.body
        if call.endpoint in MEDIA_ENDPOINTS:  # priced per image, character or second (`pricing.media`)
            call.tokens_estimate = (0, 0)
        elif call.endpoint == "embeddings":
            value = body.get("input")
            prompt = sum(tokens.count_text(str(v)) for v in (value if isinstance(value, list) else [value]))
            call.tokens_estimate = (prompt, 0)
        else:
            limit = body.get("max_completion_tokens") or body.get("max_tokens")
            completion = limit if isinstance(limit, int) and limit > 0 else DEFAULT_COMPLETION_ESTIMATE
            call.tokens_estimate = (tokens.count_messages(body["messages"], body.get("tools")), completion)
    return call.tokens_estimate


def steering(body: dict[str, Any], strategy_header: str | None) -> tuple[dict[str, Any], tuple[str, ...], str | None]:
    """Take the gateway's own fields (`fallbacks`, `strategy`) out of the body."""
    if not any(f in body for f in GATEWAY_FIELDS):
        return body, (), strategy_header
    body = dict(body)
    fallbacks = body.pop("fallbacks", None) or []
    strategy = body.pop("strategy", None) or strategy_header
    if not (isinstance(fallbacks, list) and all(isinstance(f, str) for f in fallbacks)):
        raise InvalidRequest("'fallbacks' must be an array of model names", param="fallbacks")
    if strategy is not None and not isinstance(strategy, str):
        raise InvalidRequest("'strategy' must be a string", param="strategy")
    return body, tuple(fallbacks), strategy


def end_user_of(body: dict[str, Any], header: str | None, user_param: str = "user") -> str | None:
    """The end user the call is for: the body's `user` (or what the caller knows it as, `user_param`), else the
    `X-User-Id` header, checked here at the edge because it is written in the ledger (a value the database
    refused would be set aside there, its call uncounted in the reports)."""
    user = body.get("user")
    if user is not None:
        return _end_user(user, user_param)
    return None if header is None else _end_user(header, "x-user-id")


def _end_user(value: Any, param: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_END_USER or CONTROL_CHARACTERS.search(value):
        raise InvalidRequest(
            f"'{param}' must be a string of at most {MAX_END_USER} characters, without control characters.",
            param=param,
            code="invalid_user",
        )
    return value


def chat_call(
    request_id: str,
    principal: Principal,
    body: Any,
    end_user_header: str | None,
    strategy_header: str | None = None,
    user_param: str = "user",
) -> Call:
    """Check the few fields the gateway relies on; every other field passes through untouched."""
    body, fallbacks, strategy = steering(_object(body), strategy_header)
    body, cache = take_cache_field(body)
    model = _model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array of message objects", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(f"messages[{i}] must be an object with a 'role'", param=f"messages[{i}]")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    wants_usage = bool(stream and options and options.get("include_usage"))
    for name in COMPLETION_LIMITS:
        _completion_limit(body.get(name), name)
    end_user = end_user_of(body, end_user_header, user_param)
    return Call(
        request_id,
        principal,
        "chat",
        body,
        model,
        bool(stream),
        wants_usage,
        end_user=end_user,
        fallbacks=fallbacks,
        strategy=_strategy(strategy),
        cache=cache,
    )


def embeddings_call(
    request_id: str, principal: Principal, body: Any, end_user_header: str | None, strategy_header: str | None = None
) -> Call:
    body, fallbacks, strategy = steering(_object(body), strategy_header)
    model = _model(body)
    value = body.get("input")
    if not (isinstance(value, (str, list)) and value):
        raise InvalidRequest("'input' must be a non-empty string or array", param="input")
    end_user = end_user_of(body, end_user_header)
    return Call(
        request_id,
        principal,
        "embeddings",
        body,
        model,
        end_user=end_user,
        fallbacks=fallbacks,
        strategy=_strategy(strategy),
    )


def _completion_limit(value: Any, name: str) -> None:
    """OpenAI's own API refuses a limit that is not a positive integer; so do we (1e30 parses as a float)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS):
        raise InvalidRequest(f"'{name}' must be an integer from 1 to {MAX_TOKENS}.", param=name)


def _strategy(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        ordering(name)
    except ValueError as e:
        raise InvalidRequest(str(e), param="strategy") from None
    return name


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("You must provide a model parameter.", param="model", code="missing_model")
    return model
