"""Guardrail policy names, on a policy and on a key: a letter or digit, then up to 63 word characters (Unicode
letters included), dots or dashes. The length is checked apart from the pattern (`guardrails.policy.NAME_MAX`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from oneflow_ai.guardrails.policy import Policy
from oneflow_ai.identity.schemas import KeyCreate

LONGEST = "p" + "é" * 62 + "-"  # 64 characters
NAMES_REFUSED = [LONGEST + "x", "-starts-with-a-dash", "has space", "", "ünicode-first"]


@pytest.mark.parametrize("name", ["a", "pii.v2", "a_b-c", LONGEST])
def test_a_name_of_up_to_64_word_characters_is_accepted(name: str) -> None:
    assert Policy(name=name).name == name
    assert KeyCreate(guardrails=[name]).guardrails == [name]


@pytest.mark.parametrize("name", NAMES_REFUSED)
def test_any_other_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        Policy(name=name)
    with pytest.raises(ValidationError):
        KeyCreate(guardrails=[name])
