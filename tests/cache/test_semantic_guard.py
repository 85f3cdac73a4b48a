"""The near-miss guard's written rules (`cache.semantic_guard`): numbers, negations, names."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from oneflow_ai.cache.semantic_guard import same_facts, signature


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is 2+2?", "What is 2+3?"),  # another number
        ("What is 2+2?", "What is 2*2?"),  # another operator
        ("What is 6 times 7?", "What is 6 plus 7?"),  # another operator, in words
        ("What is 10 divided by 2?", "What is 2 divided by 10?"),  # the same numbers in another order
        ("Convert 30 Celsius", "Convert thirty five Celsius"),  # number words are numbers
        ("Is Paris in France?", "Is Paris not in France?"),  # a negation more
        ("Why does my code work?", "Why doesn't my code work?"),  # a contracted negation
        ("Make bread with yeast", "Make bread without yeast"),
        ("What is the capital of France?", "What is the capital of Germany?"),  # another name
        ("Paris is in France.", "London is in France."),  # a name that starts the sentence still counts
        ("Book a flight from Paris to London.", "Book a flight from London to Paris."),  # names in another order
        ("Features of the iPhone 14", "Features of the iPhone 15"),
        ("What does NASA do?", "What does ESA do?"),  # acronyms are names
    ],
)
def test_near_misses_differ(a: str, b: str) -> None:
    assert not same_facts(a, b), (signature(a), signature(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is 2+2?", "what is two plus two"),  # digits and number words, symbols and operator words
        ("What is 1,000 times 3?", "What's 1000 times 3?"),  # a thousands separator
        ("What is two-factor authentication?", "What is two factor authentication?"),  # a hyphen between letters
        ("Isn't Paris in France?", "Is Paris not in France?"),  # one negation each
        ("What is the capital of France?", "what's the capital of France"),
        ("How do I reverse a list in Python?", "What's the way to reverse a Python list?"),
        ("What is PYTHON?", "What is Python?"),  # names compare in lower case
        ("France's capital?", "The capital of France?"),  # a possessive 's is dropped
        ("Explain photosynthesis.", "Please explain photosynthesis."),  # common first words are not names
        ("How do I boil an egg?", "Can you tell me how to boil an egg?"),  # "I" is no name
        ("Paris. Tell me about it", "Paris! tell me about it"),  # sentence starts
    ],
)
def test_paraphrases_pass(a: str, b: str) -> None:
    assert same_facts(a, b), (signature(a), signature(b))


def test_signature_parts() -> None:
    assert signature("Is 17 a prime number? Don't tell Alice") == "17|1|alice"
    assert signature("nothing here") == "|1|"
    assert signature("x + 5 = 12") == "+ 5 = 12|0|"
    assert signature("an operator word alone is a word: times") == "|0|"


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_any_two_different_numbers_differ(a: int, b: int) -> None:
    assume(a != b)
    assert not same_facts(f"What is {a} times 3?", f"What is {b} times 3?")
    assert same_facts(f"What is {a:,} times 3?", f"what is {a} times 3")  # separators, case, punctuation


@given(st.lists(st.sampled_from(["  ", "\t", ",", " ,", " ("]), min_size=5, max_size=5))
def test_spacing_and_commas_do_not_change_the_signature(gaps: list[str]) -> None:
    words = ["Is", "Paris", "not", "in", "France", "in 2024?"]
    text = words[0] + "".join(gap + " " + w for gap, w in zip(gaps, words[1:], strict=True))
    assert signature(text) == signature("Is Paris not in France in 2024?") == "2024|1|paris france"
