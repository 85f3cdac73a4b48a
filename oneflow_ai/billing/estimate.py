"""What a call may cost at most, before it is made: the amount its budgets hold for it.

A budget is only as good as this bound: a call that spends more than it held can take a budget past its limit.
So the hold counts the answer at its longest: the call's own `max_completion_tokens` / `max_tokens` (OpenAI's
and Anthropic's; the provider never answers longer), else the model's largest answer (the catalog's
`max_output_tokens`, else its context window less the prompt, else `UNKNOWN_OUTPUT_LIMIT`), times `n` answers.
A call that names a short `max_tokens` holds little; one that names none holds its model's whole output limit.

Its `minimum` is the prompt and a short answer (`SHORT_ANSWER` tokens): a budget with room for that much but not
for the whole hold still takes the call, holding all it has left (`periods.hold`).
"""

from __future__ import annotations

from typing import Any

from oneflow_ai.pricing.catalog import ModelPrice

UNKNOWN_OUTPUT_LIMIT = 4096
"""Answer tokens assumed at most for a model whose output limit and context window are both unknown."""
SHORT_ANSWER = 16
"""Answer tokens in a call's `minimum`: the least it must have room for."""
MAX_CHOICES = 128
"""OpenAI's largest `n`."""


def answer_limit(body: dict[str, Any], price: ModelPrice, prompt_tokens: int) -> int:
    """The most answer tokens a chat call can be billed for on a model priced `price`."""
    known = price.max_output_tokens or max(0, price.context_window - prompt_tokens)
    asked = _positive(body.get("max_completion_tokens")) or _positive(body.get("max_tokens"))
    if asked is not None:
        one = min(asked, known) if known else asked
    else:
        one = known or UNKNOWN_OUTPUT_LIMIT
    return one * min(_positive(body.get("n")) or 1, MAX_CHOICES)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
