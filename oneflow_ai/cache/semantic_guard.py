"""The near-miss guard: what two texts must share, besides a close embedding, to be served the same answer.

Static embeddings put "What is 2+2?" next to "What is 2+3?", "Is Paris in France" next to "Is Paris not in
France" and "the capital of France" next to "the capital of Germany": the words that change the answer are few
and carry little weight in an average of word vectors. So a semantic hit also needs, in both texts:

1. **The same numbers, in the same order**, with the arithmetic between them: digit runs (``1,000`` is ``1000``,
   ``3.5`` stays ``3.5``), number words up to the tens (``two`` is ``2``, ``thirty five`` is ``30 5``), and the
   operators next to them, as symbols or words (``+``/``plus``/``add``, ``-``/``minus``, ``*``/``x``/``times``,
   ``/``/``divided``/``over``, ``^``/``power``/``squared``, ``%``/``percent``). "2+3" and "3+2" differ: a miss
   costs an upstream call, a false hit a wrong answer.
2. **As many negations**: ``not``, ``no``, ``never``, ``without``, ``cannot``, any ``n't`` contraction, and the
   rest of `NEGATIONS`. "Isn't Paris in France" and "Is Paris not in France" both have one.
3. **The same names**: every capitalised word that is not a sentence's common first word (`STARTERS`), every
   word with a capital inside (``iPhone``, ``JavaScript``) and every acronym (``NASA``), in the order they
   appear, compared in lower case (``PYTHON`` is ``Python``) with a possessive ``'s`` dropped. A name written
   in lower case in the other text ("python") is not a name there, so the pair misses: the guard errs on the
   side of a miss. A hyphen between letters separates words ("two-factor" is "two factor").

`signature(text)` computes the three as a short string, kept beside the vector, and two texts may share an
answer only when their signatures are equal. The guard is pure: text in, string out.
"""

from __future__ import annotations

import re

NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {w: str(10 * i) for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), start=3)}
NUMBER_WORDS |= {"hundred": "e2", "thousand": "e3", "million": "e6", "billion": "e9", "half": "0.5"}

OPERATORS = {
    "+": "+", "plus": "+", "add": "+", "added": "+", "sum": "+",
    "-": "-", "−": "-", "minus": "-", "subtract": "-", "subtracted": "-", "less": "-",
    "*": "*", "×": "*", "x": "*", "times": "*", "multiplied": "*", "multiply": "*", "product": "*",
    "/": "/", "÷": "/", "divided": "/", "divide": "/", "over": "/", "quotient": "/",
    "^": "^", "**": "^", "power": "^", "squared": "^2", "cubed": "^3", "root": "√",
    "%": "%", "percent": "%", "=": "=", "<": "<", ">": ">", "greater": ">", "smaller": "<", "larger": ">",
}  # fmt: skip

NEGATIONS = frozenset(
    "not no never none nobody nothing nowhere neither nor without cannot cant dont doesnt didnt isnt arent "
    "wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt mustnt neednt aint".split()
)

STARTERS = frozenset(
    """a about above after all also am an and any are as at be because before best better both but by can could
    compare convert calculate create define describe did do does draw each either every explain find for from get
    give go good great have has had he hello help her here hey hi his how however i if in is it its just let lets
    list make may me might more most my name no not now of ok okay on once only or our please plan quick quickly
    recommend rewrite same say send set she should show so solve some suggest summarize summarise teach tell
    than thanks thank that the their then there these they this those to translate under was we well were what
    whats when where whether which while who whom whose why will with would write yes you your""".split()
)

PRONOUN_I = frozenset(("i", "i'm", "i've", "i'd", "i'll"))
"""Capitalised everywhere, never a name."""

_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|[^\W\d_](?:[\w'’]*\w)?|\*\*|[+\-−*×/÷^%=<>]|[.!?:;\n]")
_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
"""A hyphen inside a word ("two-factor", "thirty-five"): its parts are read as words, not as a minus."""
_SENTENCE_END = frozenset(".!?:;\n")


def signature(text: str) -> str:
    """The numbers (with their operators), the negation count and the names of `text`, as one string."""
    numbers: list[str] = []
    names: list[str] = []
    negations = 0
    sentence_start = True
    previous_numeric = False
    for token in _TOKEN.findall(_HYPHEN.sub(" ", text)):
        if token in _SENTENCE_END:
            sentence_start = True
            continue
        lower = token.lower().replace("’", "'")
        if token[0].isdigit():
            numbers.append(_number(token))
            previous_numeric = True
        elif lower in NUMBER_WORDS:
            numbers.append(NUMBER_WORDS[lower])
            previous_numeric = True
        elif lower in OPERATORS and (previous_numeric or not token[0].isalpha()):
            numbers.append(OPERATORS[lower])  # an operator word counts only after a number ("2 times", not "times")
            previous_numeric = False
        else:
            previous_numeric = False
            bare = lower.replace("'", "")
            if bare in NEGATIONS or lower.endswith("n't"):
                negations += 1
            elif _is_name(token, lower, sentence_start):
                names.append(lower.removesuffix("'s"))
        sentence_start = False
    return f"{' '.join(numbers)}|{negations}|{' '.join(names)}"


def same_facts(a: str, b: str) -> bool:
    """Whether two texts pass the guard (their signatures are equal)."""
    return signature(a) == signature(b)


def _number(token: str) -> str:
    return token.replace(",", "") if "," in token and "." not in token else token


def _is_name(token: str, lower: str, sentence_start: bool) -> bool:
    if not token[0].isalpha() or lower in PRONOUN_I:
        return False
    if any(c.isupper() for c in token[1:]):
        return True  # iPhone, JavaScript, NASA
    if not token[0].isupper():
        return False
    return not (sentence_start and lower.replace("'", "") in STARTERS | NEGATIONS)
