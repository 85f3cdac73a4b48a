"""What the guardrails add to one call: `.venv/bin/python -m bench.guardrails [--policy default] [--n 2000]`.

Runs the guardrail stages of a gateway whose every call carries `--policy` (the input admission and rewriter on a
~2 KB chat prompt, the reply inspector on a ~1 KB answer), in-process, and prints the p50, p90 and p99 of the time
they take per call, in microseconds, for the input side, the output side and both (time with guardrails on minus
off: off, the stages are not built at all).
Throughput with guardrails on vs off, end to end, is `python -m bench.run --mode full-sqlite,full-sqlite-guardrails`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import orjson

from oneflow_ai.auth.principal import Principal
from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.gateway.call import Call, JSONReply
from oneflow_ai.guardrails.stages import guardrail_stages, guardrails_of

SENTENCES = (
    "Our quarterly review covers revenue, hiring plans and the roadmap for the next two releases. ",
    "Please summarise the customer feedback from the last survey and list the three most common requests. ",
    "The deployment on version 2.14.3 went out on March 3rd and costs about $1,250.00 per month to run. ",
    "Order #A-55102 shipped to the warehouse; the tracking page shows it arrived at 09:42 this morning. ",
    "Contact the account owner at jane.doe@example.com if the invoice for 4111 1111 1111 1111 is disputed. ",
)


def prompt(size: int = 2048) -> str:
    text = ""
    i = 0
    while len(text) < size:
        text += SENTENCES[i % len(SENTENCES)]
        i += 1
    return text[:size]


def answer(size: int = 1024) -> bytes:
    completion = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": prompt(size)}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 500, "completion_tokens": 250, "total_tokens": 750},
    }
    return orjson.dumps(completion)


async def measure(policy: str, n: int) -> tuple[list[float], list[float]]:
    """Microseconds per call: (the input side on the prompt, the output side on the answer)."""
    config = GatewayConfig.model_validate({"guardrails": {"default": [policy]}})
    stages, last = guardrail_stages(guardrails_of(config, lambda *labels: None), config)
    [admission], [rewriter] = stages.admissions, stages.rewriters
    inspectors = (*stages.reply_inspectors, *last.reply_inspectors)
    body: dict[str, Any] = {"model": "bench", "messages": [{"role": "user", "content": prompt()}]}
    reply_bytes = answer()
    inputs: list[float] = []
    outputs: list[float] = []
    for i in range(n):
        call = Call(f"req-{i}", Principal("bench"), "chat", body, "bench")
        reply = JSONReply(reply_bytes, {})
        started = time.perf_counter()
        await admission.admit(call)
        rewriter.rewrite(call)
        between = time.perf_counter()
        for inspector in inspectors:
            reply = inspector.inspect(call, reply)
        inputs.append((between - started) * 1e6)
        outputs.append((time.perf_counter() - between) * 1e6)
    return inputs, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="default")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(measure(args.policy, 50))  # warm up: detectors' first use, regex caches
    inputs, outputs = asyncio.run(measure(args.policy, args.n))
    print(f"guardrails policy={args.policy} prompt=2048 chars answer=1024 chars calls={args.n}")
    for name, samples in (
        ("input (2 KB prompt)", inputs),
        ("output (1 KB answer)", outputs),
        ("both", [a + b for a, b in zip(inputs, outputs, strict=True)]),
    ):
        q = statistics.quantiles(samples, n=100)
        print(f"{name:22s} added per call (us): p50 {q[49]:.0f}  p90 {q[89]:.0f}  p99 {q[98]:.0f}")


if __name__ == "__main__":
    main()
