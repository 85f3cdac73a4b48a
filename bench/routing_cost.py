"""What routing costs per request: planning with 1 vs 10 deployments in a group, and through the gateway.

    .venv/bin/python -m bench.routing_cost            # ~30 s
    .venv/bin/python -m bench.routing_cost --quick    # ~5 s

1. The pure planner (`plan_chain`) for each ordering, 1 vs 10 deployments, with the health of every
   deployment known and one breaker open (the realistic worst case: everything is looked at).
2. `Routing.plan(call, group)` as the pipeline calls it: it adds the request's cost estimate (token counting,
   once per call, and a `Decimal` price per deployment) for the cost-aware strategies.
3. `model: "auto"` choosing among 10 groups (`AutoModel.choose`).
4. Through the gateway (uvicorn, real HTTP, the built-in `demo` provider, so no upstream time): the median
   latency of a group with 1 deployment vs one with 10, sequential requests.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from oneflow_ai.auth.principal import MASTER
from oneflow_ai.config.schema import Deployment, GatewayConfig, ModelGroup, RoutingSettings
from oneflow_ai.gateway.auto import AutoModel
from oneflow_ai.gateway.call import chat_call
from oneflow_ai.gateway.routing import Routing
from oneflow_ai.pricing import PricingEngine, TokenCounter
from oneflow_ai.routing import BreakerPolicy, DeploymentHealth, LoadBalancing, RoutingStrategy, plan_chain
from oneflow_ai.routing.breaker import Breaker, BreakerState

MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "claude-sonnet-4-5",
    "claude-3-haiku",
    "o3",
    "gpt-4.1-nano",
    "deepseek-chat",
    "gemini-2.0-flash",
]
HI = [{"role": "user", "content": "Summarise the plot of Hamlet in two sentences."}]
POLICY, NOW = BreakerPolicy(), time.monotonic()


def group(n: int, name: str = "g") -> ModelGroup:
    deps = [{"provider": "openai", "model": MODELS[i % len(MODELS)], "weight": 1 + i % 3} for i in range(n)]
    return ModelGroup.model_validate({"name": name, "deployments": deps})


def per_call_us(fn: Callable[[], object], n: int) -> float:
    for _ in range(min(n, 1000)):
        fn()
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n / 1000


def planner(n_iter: int) -> list[str]:
    rows = ["| ordering | 1 deployment | 10 deployments |", "|---|---|---|"]
    rng = random.Random(1)
    for how in (*LoadBalancing, *RoutingStrategy):
        cells = []
        for n in (1, 10):
            g = group(n).model_copy(update={"strategy": how.value})
            health = {
                d.id: DeploymentHealth(ewma_latency_s=rng.random(), in_flight=rng.randint(0, 5), samples=9)
                for d in g.deployments
            }
            breakers = {g.deployments[-1].id: Breaker(BreakerState.OPEN, opened_at=time.monotonic())} if n > 1 else {}
            costs = {d.id: PricingEngine().estimate(d.model, 1000, 200).usd for d in g.deployments}
            cells.append(
                per_call_us(
                    lambda g=g, h=health, b=breakers, c=costs: plan_chain(  # type: ignore[misc]
                        [g], h, b, POLICY, NOW, estimated_cost=c, rr_counter=7, rand=0.3
                    ),
                    n_iter,
                )
            )
        rows.append(f"| {how.value} | {cells[0]:.1f} µs | {cells[1]:.1f} µs |")
    return rows


def routing_plan(n_iter: int) -> list[str]:
    pricing, tokens = PricingEngine(), TokenCounter(None)  # as the gateway estimates calls
    rows = ["| strategy | 1 deployment | 10 deployments |", "|---|---|---|"]
    for strategy in ("weighted", "cost_optimized", "balanced"):
        cells = []
        for n in (1, 10):
            g = group(n)
            routing = Routing(RoutingSettings(strategy=strategy), {"g": g}, pricing, tokens)

            def once(g: ModelGroup = g, routing: Routing = routing) -> object:
                call = chat_call("r", MASTER, {"model": "g", "messages": HI}, None)  # a new call: counted afresh
                return routing.plan(call, g)

            cells.append(per_call_us(once, n_iter // 4))
        rows.append(f"| {strategy} | {cells[0]:.1f} µs | {cells[1]:.1f} µs |")
    call_only = per_call_us(lambda: chat_call("r", MASTER, {"model": "g", "messages": HI}, None), n_iter // 4)
    rows.append(f"| (parsing the call alone) | {call_only:.1f} µs | |")
    return rows


def auto(n_iter: int) -> list[str]:
    pricing, tokens = PricingEngine(), TokenCounter(None)  # as the gateway estimates calls
    config = GatewayConfig(
        models=tuple(
            group(1, f"m{i}").model_copy(
                update={"deployments": (Deployment(provider="openai", model=MODELS[i], id=f"m{i}/0"),)}
            )
            for i in range(10)
        )
    )
    chooser = AutoModel(config.by_name(), pricing)
    rows = ["| strategy | choose among 10 groups |", "|---|---|"]
    for strategy in RoutingStrategy:
        us = per_call_us(
            lambda s=strategy: chooser.choose(  # type: ignore[misc]
                chat_call("r", MASTER, {"model": "auto", "messages": HI, "strategy": s.value}, None), tokens, {}
            ),
            n_iter // 10,
        )
        rows.append(f"| {strategy.value} | {us:.1f} µs |")
    return rows


def through_gateway(n_requests: int) -> list[str]:
    import httpx
    import uvicorn

    from oneflow_ai.app import create_app
    from oneflow_ai.settings import Settings

    demo = [{"provider": "demo", "model": "demo"}]
    config = {
        "models": [
            {"name": "one", "deployments": demo},
            {"name": "ten", "deployments": demo * 10},
            {"name": "ten-cost", "strategy": "cost_optimized", "deployments": demo * 10},
        ]
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        import yaml

        path.write_text(yaml.safe_dump(config))
        settings = Settings(
            config_path=str(path), data_dir=Path(tmp), master_key="sk-bench-routing", log_level="WARNING"
        )
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, {}), host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        rows = ["| group | median | p90 |", "|---|---|---|"]
        names = ("one", "ten", "ten-cost")
        samples: dict[str, list[float]] = {name: [] for name in names}
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", timeout=10, headers={"authorization": "Bearer sk-bench-routing"}
            ) as client:
                for i in range(n_requests * (len(names) + 1)):  # interleaved, so drift hits all alike
                    name = names[i % len(names)]
                    start = time.perf_counter()
                    r = client.post("/v1/chat/completions", json={"model": name, "messages": HI})
                    assert r.status_code == 200, r.text
                    if i >= n_requests:  # the first n_requests warm up
                        samples[name].append((time.perf_counter() - start) * 1000)
            for name in names:
                s = sorted(samples[name])
                rows.append(f"| {name} | {statistics.median(s):.3f} ms | {s[int(len(s) * 0.9)]:.3f} ms |")
        finally:
            server.should_exit = True
            thread.join(10)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n_iter, n_requests = (4000, 200) if args.quick else (40000, 2000)
    sections: list[tuple[str, Callable[[], list[str]]]] = [
        ("plan_chain (pure), per call", lambda: planner(n_iter)),
        ("Routing.plan (cost estimate included), per call", lambda: routing_plan(n_iter)),
        ('model "auto", per call', lambda: auto(n_iter)),
        ("Through the gateway (demo provider, sequential)", lambda: through_gateway(n_requests)),
    ]
    for title, run in sections:
        print(f"\n### {title}\n")
        print("\n".join(run()))


if __name__ == "__main__":
    main()
