"""The acceptance numbers: per-type precision and recall on the labelled corpus, injection recall and false
positives on the injection set, at the issue's thresholds; the committed data is what the generators write; the
scoring itself counts misses and false positives; detect() stays fast on a 2 KB prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import guardrails_corpus, guardrails_eval, guardrails_injection_set
from bench.guardrails_eval import (
    CHECKSUM_TYPES,
    DATA,
    PII_TYPES,
    iou,
    load,
    score_injection,
    score_pii,
    thresholds,
)
from bench.guardrails_speed import prompt_2kb, time_detect
from oneflow_ai.guardrails.spans import Finding


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, object]]:
    return load(DATA / "pii_corpus.jsonl")


@pytest.fixture(scope="module")
def injection_set() -> list[dict[str, object]]:
    return load(DATA / "injection_set.jsonl")


def test_checksum_types_have_the_higher_bar() -> None:
    assert CHECKSUM_TYPES == {"CREDIT_CARD", "IBAN_CODE", "IN_AADHAAR"}
    assert thresholds("CREDIT_CARD") == (0.95, 0.98)
    assert thresholds("US_SSN") == (0.9, 0.9)


def test_every_type_meets_its_precision_and_recall(corpus: list[dict[str, object]]) -> None:
    scores = score_pii(corpus)
    assert set(scores) == PII_TYPES
    for entity, score in scores.items():
        assert score.labelled >= 100, entity
        need_precision, need_recall = thresholds(entity)
        assert score.precision >= need_precision, (entity, score)
        assert score.recall >= need_recall, (entity, score)


def test_corpus_holds_hard_negatives(corpus: list[dict[str, object]]) -> None:
    negatives = [r for r in corpus if not r["spans"]]
    assert len(negatives) >= 200
    texts = " ".join(str(r["text"]) for r in corpus)
    for marker in ("is that a valid one", "was rejected by the portal", "ISBN", "Request id", "version", "order #"):
        assert marker in texts


def test_injection_recall_and_false_positives(injection_set: list[dict[str, object]]) -> None:
    score = score_injection(injection_set)
    assert score.injections >= 100 and score.benign >= 200
    assert sum(1 for r in injection_set if r["kind"] == "tricky") >= 50
    assert score.recall >= 0.9, score
    assert score.false_positive_rate <= 0.05, score


def test_committed_data_is_what_the_generators_write(tmp_path: Path) -> None:
    guardrails_corpus.write(tmp_path / "pii.jsonl")
    guardrails_injection_set.write(tmp_path / "injection.jsonl")
    assert (tmp_path / "pii.jsonl").read_bytes() == (DATA / "pii_corpus.jsonl").read_bytes()
    assert (tmp_path / "injection.jsonl").read_bytes() == (DATA / "injection_set.jsonl").read_bytes()


def test_labelled_spans_are_the_values() -> None:
    record = guardrails_corpus.corpus(seed=3, per_type=2)
    for r in record:
        for span in r["spans"]:  # type: ignore[attr-defined]
            value = str(r["text"])[span["start"] : span["end"]]
            assert value and value == value.strip(), (r, span)


def test_scoring_counts_misses_false_positives_and_loose_spans() -> None:
    text = "card 4111 1111 1111 1111 and then a long tail of other words"
    records = [
        {"text": text, "spans": [{"type": "CREDIT_CARD", "start": 5, "end": 24}]},
        {"text": "nothing here", "spans": []},
    ]
    assert score_pii(records, lambda t: [])["CREDIT_CARD"].recall == 0.0
    exact = score_pii(records, lambda t: [Finding("CREDIT_CARD", 5, 24, 0.9)] if t == text else [])
    assert (exact["CREDIT_CARD"].recall, exact["CREDIT_CARD"].precision) == (1.0, 1.0)
    close = score_pii(records, lambda t: [Finding("CREDIT_CARD", 4, 22, 0.9)] if t == text else [])
    assert close["CREDIT_CARD"].recall == 1.0  # IoU 17/20

    def sloppy(t: str) -> list[Finding]:  # the whole text as a card, and a phone number where there is none
        return [Finding("CREDIT_CARD", 0, len(t), 0.9)] if t == text else [Finding("PHONE_NUMBER", 0, 7, 0.9)]

    scores = score_pii(records, sloppy)
    assert (scores["CREDIT_CARD"].found, scores["CREDIT_CARD"].predicted) == (0, 1)  # IoU 19/60
    assert scores["CREDIT_CARD"].precision == 0.0
    assert scores["PHONE_NUMBER"].precision == 0.0


def test_iou_threshold_is_one_half() -> None:
    assert guardrails_eval.MIN_IOU == 0.5
    assert iou((0, 10), (0, 5)) == 0.5
    assert iou((0, 10), (10, 20)) == 0.0


def test_detect_on_a_2kb_prompt_is_fast() -> None:
    # The budget is 1 ms p50 for the whole default set; this machine is shared, so the bound here is loose and the
    # measured number is in the README (bench.guardrails_speed).
    assert len(prompt_2kb()) == 2048
    assert time_detect(prompt_2kb(with_pii=True), runs=200)["p50"] < 3000
