"""Shared by the detector tests: the findings of one type as (type, matched text, start, end)."""

from __future__ import annotations

from oneflow_ai.guardrails.detectors import detect


def found(text: str, entity: str) -> list[tuple[str, int, int]]:
    """(matched text, start, end) of each finding of `entity` in `text`."""
    return [(text[f.start : f.end], f.start, f.end) for f in detect(text, frozenset({entity}))]


def at(text: str, value: str) -> list[tuple[str, int, int]]:
    """What `found` returns when `value` (occurring once in `text`) is the one finding."""
    start = text.index(value)
    return [(value, start, start + len(value))]
