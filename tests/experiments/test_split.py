"""The pure split (`experiments.split`) and the gateway's registry of running experiments (`experiments.registry`)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.auth.principal import Principal
from oneflow_ai.config import ConfigError, load_config
from oneflow_ai.config.schema import ModelGroup
from oneflow_ai.experiments.config import ExperimentConfig, check_experiments
from oneflow_ai.experiments.registry import Experiments
from oneflow_ai.experiments.split import Experiment, Variant, check, point
from oneflow_ai.gateway.call import Call

A, B, C = Variant("a", "chat", 1), Variant("b", "mini", 3), Variant("c", "big", 0)


def test_a_point_falls_in_the_variant_whose_share_holds_it() -> None:
    e = Experiment("exp_1", "ab", "chat", (A, B))  # a: [0, 0.25), b: [0.25, 1)
    assert [e.variant_at(x).name for x in (0.0, 0.2499, 0.25, 0.9999999)] == ["a", "a", "b", "b"]


@given(st.floats(0, 1, exclude_max=True), st.lists(st.integers(0, 5), min_size=2, max_size=6))
def test_a_variant_of_weight_zero_is_never_chosen(x: float, weights: list[int]) -> None:
    if not any(weights):
        weights[0] = 1
    e = Experiment("e", "n", "m", tuple(Variant(f"v{i}", "m", w) for i, w in enumerate(weights)))
    assert e.variant_at(x).weight > 0


def test_sticky_hashes_the_subject_and_splits_by_weight() -> None:
    e = Experiment("exp_1", "ab", "chat", (A, B), sticky=True)
    never = lambda: pytest.fail("a sticky choice with a subject draws nothing")  # noqa: E731
    first = {f"user-{i}": e.choose(f"user-{i}", never).name for i in range(20_000)}
    assert all(e.choose(u, never).name == v for u, v in list(first.items())[:500])  # the same every time
    shares = Counter(first.values())
    assert 0.23 < shares["a"] / 20_000 < 0.27  # 1 of 4 (a fixed hash: the same count on every run)
    # another experiment splits the same users independently of this one
    other = Experiment("exp_2", "ab", "chat", (A, B), sticky=True)
    assert sum(other.choose(u, never).name != v for u, v in first.items()) > 5000


def test_point_is_stable_and_uniform_in_the_unit_interval() -> None:
    assert point("exp_1", "alice") == point("exp_1", "alice") != point("exp_1", "bob")
    assert point("exp_1", "alice") == 0.8301179800340076  # fixed across processes and versions (BLAKE2b)
    assert all(0 <= point("e", str(i)) < 1 for i in range(1000))


def test_not_sticky_or_no_subject_draws() -> None:
    draws = iter([0.1, 0.9])
    e = Experiment("e", "n", "chat", (A, B))
    assert [e.choose("alice", lambda: next(draws)).name for _ in range(2)] == ["a", "b"]
    sticky = Experiment("e", "n", "chat", (A, B), sticky=True)
    assert sticky.choose(None, lambda: 0.9).name == "b"


def test_variants_are_checked() -> None:
    assert check((A,)) is not None
    assert check((A, Variant("a", "x", 1))) == "variant names must differ"
    assert check((C, Variant("d", "x", 0))) is not None
    assert check((A, Variant("d", "x", float("inf")))) is not None
    assert check((A, Variant("d", "x", float("nan")))) is not None
    with pytest.raises(ValueError):
        Experiment("e", "n", "m", (A,))


def group(name: str, mode: str = "chat") -> ModelGroup:
    model = "text-embedding-3-small" if mode == "embedding" else "gpt-4o-mini"
    return ModelGroup.model_validate(
        {"name": name, "mode": mode, "deployments": [{"provider": "openai", "model": model, "api_key": "env:K"}]}
    )


MODELS = {g.name: g for g in (group("chat"), group("mini"), group("big"), group("emb", "embedding"))}


def test_config_experiments_must_name_known_models_of_one_mode() -> None:
    modes = {n: g.mode for n, g in MODELS.items()}

    def cfg(model: str, *targets: str, name: str = "x") -> ExperimentConfig:
        return ExperimentConfig.model_validate(
            {"name": name, "model": model, "variants": [{"name": f"v{i}", "model": t} for i, t in enumerate(targets)]}
        )

    check_experiments((cfg("chat", "chat", "mini"),), modes)
    for bad, why in [
        ((cfg("nope", "chat", "mini"),), "not a configured model"),
        ((cfg("chat", "chat", "nope"),), "unknown model 'nope'"),
        ((cfg("chat", "chat", "emb"),), "embedding model"),
        ((cfg("chat", "chat", "mini"), cfg("chat", "chat", "big")), "defined twice"),
    ]:
        with pytest.raises(ValueError, match=why):
            check_experiments(bad, modes)


def call(model: str = "chat", tenant: str | None = "t1", user: str | None = None) -> Call:
    return Call("req", Principal("key_1", tenant_id=tenant, user_id="u1"), "chat", {}, model, end_user=user)


def test_registry_assigns_a_running_experiment_of_the_callers_tenant() -> None:
    everyone = Experiment("exp_all", "all", "chat", (Variant("x", "chat", 1), Variant("y", "mini", 0)))
    mine = Experiment("exp_t1", "t1", "chat", (Variant("x", "chat", 0), Variant("y", "big", 1)), tenant_id="t1")
    ended = Experiment("exp_end", "old", "mini", (A, B), status="ended")
    registry = Experiments([everyone], MODELS, draw=random.Random(7).random)
    registry.replace([ended, mine])
    assert set(registry.by_model) == {"chat"}  # the ended one splits nothing
    c = call()
    assert registry.assign(c) is MODELS["big"] and (c.experiment, c.variant) == ("exp_t1", "y")  # its own first
    other = call(tenant="t2")
    assert registry.assign(other) is MODELS["chat"] and (other.experiment, other.variant) == ("exp_all", "x")
    master = call(tenant=None)
    assert registry.assign(master) is MODELS["chat"] and master.experiment == "exp_all"
    untouched = call("mini")
    assert registry.assign(untouched) is None and untouched.experiment is None
    assert registry.get("exp_end") is ended and registry.get("nope") is None
    registry.replace([])
    assert registry.stored == () and registry.by_model == {"chat": (everyone,)}


def test_registry_without_experiments_has_nothing_to_look_up() -> None:
    assert Experiments([], MODELS).by_model == {}


def test_a_variant_whose_model_left_the_configuration_is_not_assigned() -> None:
    gone = Experiment("exp_g", "g", "chat", (Variant("x", "gone", 1), Variant("y", "chat", 0)))
    c = call()
    assert Experiments([gone], MODELS).assign(c) is None and c.experiment is None


def test_the_config_file_is_refused_at_load_with_a_bad_experiment(tmp_path: Any) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "models:\n"
        "  - {name: chat, deployments: [{provider: openai, model: gpt-4o-mini, api_key: env:K}]}\n"
        "experiments:\n"
        "  - {name: x, model: chat, variants: [{name: a, model: chat}, {name: b, model: nope}]}\n"
    )
    with pytest.raises(ConfigError, match="experiment 'x': variant 'b' sends calls to unknown model 'nope'"):
        load_config(str(path), {"K": "k"})
    path.write_text(path.read_text().replace("model: nope", "model: chat"))
    (e,) = load_config(str(path), {"K": "k"}).experiments
    assert e.experiment() == Experiment(
        "x", "x", "chat", (Variant("a", "chat", 1), Variant("b", "chat", 1)), source="config"
    )
