"""The most a call can be billed for before it is made: its own answer limit, else its model's."""

from __future__ import annotations

from dataclasses import replace

from oneflow_ai.billing.estimate import UNKNOWN_OUTPUT_LIMIT, answer_limit
from oneflow_ai.pricing import PriceCatalog

MINI = PriceCatalog.load().require("gpt-4o-mini")
MESSAGES = [{"role": "user", "content": "hi"}]


def test_without_a_limit_the_answer_is_the_models_longest() -> None:
    assert MINI.max_output_tokens == 16384
    assert answer_limit({"messages": MESSAGES}, MINI, 10) == 16384


def test_the_calls_own_limit_bounds_it_within_the_models() -> None:
    assert answer_limit({"max_tokens": 600}, MINI, 10) == 600
    assert answer_limit({"max_completion_tokens": 50, "max_tokens": 600}, MINI, 10) == 50
    assert answer_limit({"max_tokens": 1_000_000}, MINI, 10) == 16384


def test_each_of_n_answers_is_billed() -> None:
    assert answer_limit({"max_tokens": 600, "n": 3}, MINI, 10) == 1800


def test_bad_values_are_ignored_not_trusted() -> None:
    for bad in (0, -5, True, 1e30, "600", None):
        assert answer_limit({"max_tokens": bad, "n": bad}, MINI, 10) == 16384


def test_a_model_without_an_output_limit_falls_back_to_its_context_then_a_default() -> None:
    custom = replace(MINI, max_output_tokens=0, context_window=8000)
    assert answer_limit({}, custom, 1000) == 7000
    assert answer_limit({"max_tokens": 100}, custom, 1000) == 100
    unknown = replace(custom, context_window=0)
    assert answer_limit({}, unknown, 1000) == UNKNOWN_OUTPUT_LIMIT
    assert answer_limit({"max_tokens": 9000}, unknown, 1000) == 9000
