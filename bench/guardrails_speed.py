"""How long the guardrail detectors take: `python -m bench.guardrails_speed` times `detect()` on 2 KB prompts.

`time_detect(text)` runs every built-in detector (the `default` policy's set) `runs` times on one text, after a
warm-up (first-use imports, phonenumbers' metadata), and returns the percentiles in microseconds of one CPU-bound
call on this machine. Two prompts: a benign one (prose with numbers, dates, prices, a URL and code), and the same
with a few values to find (an e-mail address, a card number, a phone number).
"""

from __future__ import annotations

import argparse
import statistics
import time

from oneflow_ai.guardrails.detectors import detect

_PROSE = (
    "Hi! I'm preparing the quarterly review for our team and need help restructuring the summary below. Revenue "
    "grew 14% to $1,204,330 across 12 regions; churn fell from 3.1% to 2.4% after the March 15, 2025 release "
    "(v2.14.0). Please keep the tone neutral, use short paragraphs, and add a table comparing Q1 and Q2. The "
    "dashboard at https://dash.example.com/reports?id=42 shows 1,532 active accounts and 87 new enterprise deals. "
    "Here is the function that computes the totals:\n\ndef total(rows):\n    return sum(r['amount'] for r in rows "
    "if r['status'] == 'paid')\n\nCan you also explain why the average order value dropped from 212.40 to 198.75 "
    "while volume rose? Our support team answered 4,210 tickets with a median first response of 38 minutes. "
)
_PII = " Contact me at jane.doe@example.com or +44 20 7946 0958; the refund goes to card 4111 1111 1111 1111. "


def prompt_2kb(with_pii: bool = False) -> str:
    """A 2048-character prompt: benign prose repeated, optionally with three values to find in the middle."""
    text = (_PROSE * 4)[:2048]
    if with_pii:
        middle = 1024
        text = (text[:middle] + _PII + text[middle:])[:2048]
    return text


def time_detect(text: str, runs: int = 2000, warmup: int = 50) -> dict[str, float]:
    """Percentiles (p50, p90, p99) and mean of detect(text) in microseconds."""
    for _ in range(warmup):
        detect(text)
    samples = []
    clock = time.perf_counter
    for _ in range(runs):
        start = clock()
        detect(text)
        samples.append((clock() - start) * 1e6)
    samples.sort()
    return {
        "p50": samples[len(samples) // 2],
        "p90": samples[int(len(samples) * 0.9)],
        "p99": samples[int(len(samples) * 0.99)],
        "mean": statistics.fmean(samples),
    }


def report(runs: int = 2000) -> str:
    lines = ["| prompt (2048 chars) | findings | p50 µs | p90 µs | p99 µs |", "|---|---:|---:|---:|---:|"]
    for label, with_pii in (("benign", False), ("with e-mail, phone, card", True)):
        text = prompt_2kb(with_pii)
        t = time_detect(text, runs)
        lines.append(f"| {label} | {len(detect(text))} | {t['p50']:.0f} | {t['p90']:.0f} | {t['p99']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args(argv)
    print(report(args.runs))


if __name__ == "__main__":
    main()
