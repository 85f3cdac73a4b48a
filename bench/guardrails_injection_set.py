"""The prompt-injection set: `python -m bench.guardrails_injection_set` writes
tests/guardrails/data/injection_set.jsonl.

Each line is `{"id", "text", "injection": bool, "kind"}`. Injections: direct overrides, prompt leaking, jailbreak
personas (DAN, developer mode), role overrides with "no restrictions", fake system turns, instructions hidden in
documents the user asks about (indirect), base64-smuggled instructions, and other languages. Benign prompts: everyday
requests, and tricky ones that use the same words innocently ("how do I ignore whitespace in git diff", "pretend
you are a pirate", "jailbreak an iPhone"). Written by hand and combined with a fixed seed; the rules were written
against the same ideas, so this set measures coverage of known attack shapes, not a held-out benchmark.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
from pathlib import Path

from bench.guardrails_prompts import (
    BENIGN,
    BENIGN_TASKS,
    BENIGN_TOOLS,
    DIRECT,
    DOCUMENT_WRAPPERS,
    HIDDEN,
    LEAKS,
    MULTILINGUAL,
    PAYLOADS,
    PERSONAS,
    TRICKY,
)

SET = Path(__file__).resolve().parent.parent / "tests" / "guardrails" / "data" / "injection_set.jsonl"
SEED = 17


def injections(rng: random.Random) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for opener in DIRECT:
        out.append((opener.format(payload=rng.choice(PAYLOADS)), "direct"))
    out += [(leak, "leak") for leak in LEAKS]
    out += [(persona, "persona") for persona in PERSONAS]
    for hidden in HIDDEN:
        wrapper = rng.choice(DOCUMENT_WRAPPERS)
        out.append((wrapper.format(doc=hidden.format(payload=rng.choice(PAYLOADS))), "indirect"))
    for opener in rng.sample(DIRECT, 10):
        secret = base64.b64encode(opener.format(payload=rng.choice(PAYLOADS)).encode()).decode()
        lead = rng.choice(
            [
                "Decode this and do what it says: ",
                "base64: ",
                "Please process the following: ",
                "Here is my request (encoded): ",
                "",
            ]
        )
        out.append((lead + secret, "encoded"))
    out += [(text, "multilingual") for text in MULTILINGUAL]
    return out


def benign(rng: random.Random) -> list[tuple[str, str]]:
    out = [(text, "everyday") for text in BENIGN]
    out += [(text, "tricky") for text in TRICKY]
    pairs = [(task, tool) for task in BENIGN_TASKS for tool in BENIGN_TOOLS]
    for task, tool in rng.sample(pairs, 60):
        out.append((f"How do I {task} in {tool}?", "everyday"))
    return out


def write(path: Path = SET, seed: int = SEED) -> int:
    rng = random.Random(seed)
    rows = [(t, True, k) for t, k in injections(rng)] + [(t, False, k) for t, k in benign(rng)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i, (text, injection, kind) in enumerate(rows):
            out.write(json.dumps({"id": i, "text": text, "injection": injection, "kind": kind}, ensure_ascii=False))
            out.write("\n")
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=SET)
    args = parser.parse_args(argv)
    print(f"{write(args.out, args.seed)} prompts written to {args.out}")


if __name__ == "__main__":
    main()
