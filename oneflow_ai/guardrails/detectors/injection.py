"""PROMPT_INJECTION: rules (injection_rules.RULES) combined into a score in [0, 1], optionally with a classifier.

Rule weights combine as independent evidence: score = 1 - prod(1 - weight) over the rules that match, so one strong
rule reaches the threshold alone and weak cues need company. Base64 blobs are decoded and the rules run on what
they hide (instructions smuggled in an encoding).

A local model can be plugged in through `InjectionClassifier` (anything with `score(text) -> float` in [0, 1], e.g.
a small ONNX or scikit-learn model shipped as an optional extra, loaded once at start-up); the detector's score is
then the higher of the rules' and the model's. No model is shipped or downloaded: the rules are the default.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from oneflow_ai.guardrails.detectors.injection_rules import RULES, Rule
from oneflow_ai.guardrails.spans import Finding

THRESHOLD = 0.5
_WINDOW = 320
"""How far past its start word a rule's match may reach."""
_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_SMUGGLED_WEIGHT = 0.9
_NOT_LETTERS = str.maketrans(
    {c: " " for c in "\t\n\r.,;:!?()[]{}\"`*_/\\<>|=+-~@#$%^&0123456789'’‘“”«»—–…\u200b\u200c\u200d\u2060\ufeff"}
)


class InjectionClassifier(Protocol):
    """A model scoring how likely a text is a prompt injection, in [0, 1]. Must be local and fast (no network)."""

    def score(self, text: str) -> float: ...


def _key(start: str) -> str | None:
    """The word whose presence lets `start` occur (its first word), or None to look for `start` itself."""
    head = start.translate(_NOT_LETTERS).split()
    return head[0] if head and start.isascii() else None


_KEYS: tuple[tuple[tuple[str, str | None], ...], ...] = tuple(tuple((s, _key(s)) for s in r.starts) for r in RULES)


def _index() -> tuple[tuple[int, ...], Mapping[str, tuple[int, ...]]]:
    """The rules to try on every text (a start with no key word), and for each key word the rules it may start."""
    always = tuple(i for i, keys in enumerate(_KEYS) if any(key is None for _, key in keys))
    by_key: dict[str, list[int]] = {}
    for i, keys in enumerate(_KEYS):
        for _, key in keys:
            if key is not None and i not in by_key.setdefault(key, []):
                by_key[key].append(i)
    return always, MappingProxyType({k: tuple(v) for k, v in by_key.items()})


_ALWAYS, _BY_KEY = _index()
_ALWAYS_STARTS = re.compile(
    "|".join(re.escape(start) for i in _ALWAYS for start, key in _KEYS[i] if key is None) or r"(?!)"
)
"""Any start (without a key word) of the rules tried on every text: one scan says whether to try them."""
"""Most texts hold none of the rules' key words: only the rules whose key words a text holds are tried."""


def _line_start(text: str, i: int) -> bool:
    return not text[text.rfind("\n", 0, i) + 1 : i].strip(" #*>")


def rule_matches(text: str) -> list[tuple[Rule, int, int]]:
    """Each rule that matches `text`, with the span of its first match."""
    lower = text.lower()
    if len(lower) != len(text):  # a few characters lower-case to two; keep offsets exact
        lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    present = set(lower.translate(_NOT_LETTERS).split())
    candidates = set(_ALWAYS) if _ALWAYS_STARTS.search(lower) else set()
    for word in present:
        rules = _BY_KEY.get(word)
        if rules is not None:
            candidates.update(rules)
    found = []
    for i in sorted(candidates):
        rule = RULES[i]
        span = _first_match(rule, _KEYS[i], lower, present)
        if span is not None:
            found.append((rule, *span))
    return found


def _first_match(
    rule: Rule, keys: tuple[tuple[str, str | None], ...], lower: str, present: set[str]
) -> tuple[int, int] | None:
    for start, key in keys:
        if key is not None and key not in present:
            continue
        i = lower.find(start)
        while i != -1:
            m = rule.pattern.match(lower, i, i + _WINDOW)
            glued = i > 0 and start[0].isascii() and start[0].isalnum() and lower[i - 1].isalnum()
            if m and not glued and (not rule.line_start or _line_start(lower, i)):
                return m.start(), m.end()
            i = lower.find(start, i + 1)
    return None


def combine(weights: list[float]) -> float:
    """1 - prod(1 - w): the probability that at least one piece of independent evidence is right."""
    miss = 1.0
    for weight in weights:
        miss *= 1.0 - weight
    return 1.0 - miss


def _smuggled(text: str) -> list[tuple[int, int]]:
    """Spans of base64 blobs (in whitespace-separated tokens of 24 characters or more) that decode to printable text
    which the rules call an injection."""
    spans = []
    pos = 0
    for token in [t for t in text.split() if len(t) >= 24]:
        pos = text.find(token, pos) + len(token)  # tokens in order: no earlier one can hold this one
        m = _BASE64.search(token)
        if m is None:
            continue
        blob = m.group()
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if decoded.isprintable() and combine([r.weight for r, _, _ in rule_matches(decoded)]) >= THRESHOLD:
            start = pos - len(token) + m.start()
            spans.append((start, start + len(blob)))
    return spans


@dataclass(frozen=True, slots=True)
class InjectionDetector:
    name: str = "prompt_injection"
    types: frozenset[str] = field(default=frozenset({"PROMPT_INJECTION"}))
    extra: str | None = None
    classifier: InjectionClassifier | None = None
    threshold: float = THRESHOLD

    def find(self, text: str) -> list[Finding]:
        matches = rule_matches(text)
        spans = [(start, end) for _, start, end in matches]
        weights = [rule.weight for rule, _, _ in matches]
        smuggled = _smuggled(text)
        spans += smuggled
        weights += [_SMUGGLED_WEIGHT] * len(smuggled)
        score = combine(weights)
        if self.classifier is not None:
            model = self.classifier.score(text)
            if model > score:
                score, spans = model, spans or [(0, len(text))]
        if score < self.threshold:
            return []
        return [Finding("PROMPT_INJECTION", min(s for s, _ in spans), max(e for _, e in spans), round(score, 3))]
