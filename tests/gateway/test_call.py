from __future__ import annotations

import pytest

from oneflow_ai.auth.principal import MASTER
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.call import chat_call, embeddings_call, estimated_tokens
from oneflow_ai.pricing import TokenCounter

HI = [{"role": "user", "content": "hi"}]


def test_gateway_fields_are_taken_out_of_the_body() -> None:
    call = chat_call(
        "r", MASTER, {"model": "m", "messages": HI, "fallbacks": ["b"], "strategy": "cost_optimized", "seed": 3}, None
    )
    assert call.body == {"model": "m", "messages": HI, "seed": 3}
    assert call.fallbacks == ("b",) and call.strategy == "cost_optimized"


def test_header_strategy_and_end_user() -> None:
    call = chat_call("r", MASTER, {"model": "m", "messages": HI}, "u-header", "quality_optimized")
    assert call.strategy == "quality_optimized" and call.end_user == "u-header"
    assert chat_call("r", MASTER, {"model": "m", "messages": HI, "user": "u-body"}, "u-header").end_user == "u-body"


@pytest.mark.parametrize(
    "body, param",
    [
        ({"messages": HI}, "model"),
        ({"model": "", "messages": HI}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"content": "no role"}]}, "messages[0]"),
        ({"model": "m", "messages": HI, "stream": "yes"}, "stream"),
        ({"model": "m", "messages": HI, "fallbacks": "b"}, "fallbacks"),
        ({"model": "m", "messages": HI, "strategy": "fastest"}, "strategy"),
    ],
)
def test_bad_bodies(body: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        chat_call("r", MASTER, body, None)
    assert info.value.param == param


def test_stream_usage_wish() -> None:
    call = chat_call(
        "r", MASTER, {"model": "m", "messages": HI, "stream": True, "stream_options": {"include_usage": True}}, None
    )
    assert call.stream and call.wants_usage
    assert not chat_call("r", MASTER, {"model": "m", "messages": HI, "stream": True}, None).wants_usage


def test_estimates_are_counted_once() -> None:
    tokens = TokenCounter(None)  # the gateway's estimates
    call = chat_call("r", MASTER, {"model": "m", "messages": HI, "max_tokens": 50}, None)
    first = estimated_tokens(call, tokens)
    assert first[1] == 50 and first[0] > 0
    call.body["messages"] = HI * 100
    assert estimated_tokens(call, tokens) == first
    emb = embeddings_call("r", MASTER, {"model": "e", "input": ["hello world", "hi"]}, None)
    assert estimated_tokens(emb, tokens) == (tokens.count_text("hello world") + tokens.count_text("hi"), 0)
