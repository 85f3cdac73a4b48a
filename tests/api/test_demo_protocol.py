"""Issue 16, must-have 6: the `demo` model speaks the whole protocol, driven by the `openai` SDK through the real app
with nothing configured: tool calls honouring `tool_choice`, schema-valid structured output, `n` choices,
`finish_reason: length`, a new id per response, `system_fingerprint`, token counts from the tokenizer, streamed
too; `demo-embedding` with `dimensions` and base64."""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

import openai
import pytest

from oneflow_ai.pricing import TokenCounter
from tests.conftest import MASTER_KEY
from tests.providers.schema_check import errors
from tests.providers.test_demo_schema import CALENDAR_EVENT, MATH_REASONING

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME: Any = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}},
}
ASK: Any = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from oneflow_ai.app import create_app
    from oneflow_ai.settings import Settings
    from tests.fakes.runner import UvicornServer

    data = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=data, master_key=MASTER_KEY, database_url=f"sqlite:///{data / 'demo.db'}")
    server = UvicornServer(lambda: create_app(settings, {}))
    yield openai.OpenAI(api_key=MASTER_KEY, base_url=server.url + "/v1", max_retries=0)
    server.stop()


def test_a_tool_is_called_with_arguments_valid_against_its_schema(client: Any) -> None:
    completion = client.chat.completions.create(model="demo", messages=ASK, tools=[WEATHER, TIME])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert errors(json.loads(call.function.arguments), WEATHER["function"]["parameters"]) == []
    tokens = TokenCounter()
    assert completion.usage.prompt_tokens == tokens.count_messages(ASK, [WEATHER, TIME])
    assert completion.usage.completion_tokens == tokens.count_text(call.function.arguments)


@pytest.mark.parametrize(
    ("tool_choice", "called"),
    [("none", None), ("required", "get_weather"), ({"type": "function", "function": {"name": "get_time"}}, "get_time")],
)
def test_tool_choice_is_honoured(client: Any, tool_choice: Any, called: str | None) -> None:
    message = (
        client.chat.completions.create(model="demo", messages=ASK, tools=[WEATHER, TIME], tool_choice=tool_choice)
        .choices[0]
        .message
    )
    assert (message.tool_calls[0].function.name if message.tool_calls else None) == called


def test_a_tools_result_is_answered_in_text_and_an_unknown_tool_choice_refused(client: Any) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    turns = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call]}]
    turns.append({"role": "tool", "tool_call_id": "call_1", "content": "14 degrees"})
    choice = client.chat.completions.create(model="demo", messages=turns, tools=[WEATHER]).choices[0]
    assert choice.finish_reason == "stop" and "14 degrees" in choice.message.content
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="demo", messages=ASK, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}}
        )
    assert refused.value.status_code == 400 and "nope" in refused.value.message


@pytest.mark.parametrize("schema", [CALENDAR_EVENT, MATH_REASONING])
def test_json_schema_output_is_valid_against_the_schema(client: Any, schema: Any) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}
    content = client.chat.completions.create(model="demo", messages=ASK, response_format=fmt).choices[0].message.content
    assert errors(json.loads(content), schema) == []
    plain = client.chat.completions.create(model="demo", messages=ASK, response_format={"type": "json_object"})
    assert isinstance(json.loads(plain.choices[0].message.content), dict)


def test_n_choices_unique_ids_and_a_fingerprint(client: Any) -> None:
    first = client.chat.completions.create(model="demo", messages=ASK, n=3)
    second = client.chat.completions.create(model="demo", messages=ASK)
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert first.id != second.id and first.id.startswith("chatcmpl-")
    assert first.system_fingerprint and first.system_fingerprint == second.system_fingerprint
    each = TokenCounter().count_text(first.choices[0].message.content)
    assert first.usage.completion_tokens == 3 * each


def test_max_tokens_cuts_the_answer_with_finish_reason_length(client: Any) -> None:
    completion = client.chat.completions.create(model="demo", messages=ASK, max_tokens=5)
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert 0 < completion.usage.completion_tokens <= 5
    assert completion.usage.completion_tokens == TokenCounter().count_text(choice.message.content)
    uncut = client.chat.completions.create(model="demo", messages=ASK, max_tokens=500).choices[0]
    assert uncut.finish_reason == "stop" and uncut.message.content.startswith(choice.message.content)


def test_streamed_tool_calls_and_choices(client: Any) -> None:
    chunks = list(
        client.chat.completions.create(
            model="demo", messages=ASK, tools=[WEATHER], n=2, stream=True, stream_options={"include_usage": True}
        )
    )
    arguments: dict[int, str] = {0: "", 1: ""}
    finish: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                arguments[choice.index] += call.function.arguments or ""
            if choice.finish_reason:
                finish[choice.index] = choice.finish_reason
    assert finish == {0: "tool_calls", 1: "tool_calls"}
    assert all(errors(json.loads(a), WEATHER["function"]["parameters"]) == [] for a in arguments.values())
    assert len({c.id for c in chunks}) == 1 and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == sum(TokenCounter().count_text(a) for a in arguments.values())


def test_a_streamed_answer_cut_by_max_tokens(client: Any) -> None:
    chunks = list(client.chat.completions.create(model="demo", messages=ASK, max_tokens=4, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert TokenCounter().count_text(text) <= 4


def test_embeddings_in_base64_with_dimensions(client: Any) -> None:
    raw = client.embeddings.with_raw_response.create(
        model="demo-embedding", input=["alpha", "beta"], dimensions=16, encoding_format="base64"
    )
    data = json.loads(raw.http_response.content)["data"]
    vectors = [struct.unpack("<16f", base64.b64decode(d["embedding"])) for d in data]
    assert [len(v) for v in vectors] == [16, 16] and vectors[0] != vectors[1]
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-5) for v in vectors)
    floats = client.embeddings.create(
        model="demo-embedding", input=["alpha", "beta"], dimensions=16, encoding_format="float"
    )
    assert [tuple(d.embedding) for d in floats.data] == vectors  # the same vectors, as float32 holds them
    decoded = client.embeddings.create(model="demo-embedding", input="alpha", dimensions=16)  # the SDK's base64
    assert tuple(decoded.data[0].embedding) == vectors[0]
    assert floats.usage.prompt_tokens == TokenCounter().count_text("alpha") + TokenCounter().count_text("beta")


def test_the_responses_api_on_demo_calls_a_function_tool(client: Any) -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}
    response = client.responses.create(model="demo", input="Weather in Paris?", tools=[tool])
    [call] = response.output
    assert call.type == "function_call" and errors(json.loads(call.arguments), tool["parameters"]) == []
    events = list(client.responses.create(model="demo", input="Hello", max_output_tokens=3, stream=True))
    assert events[-1].type == "response.incomplete"
