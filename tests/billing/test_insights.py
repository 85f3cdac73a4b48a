"""Cost insights' pure core (`billing.insights`): which models are alternatives, and the exact savings."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.billing.insights import Candidate, Traffic, catalogued, insights, routable, sentence
from oneflow_ai.pricing import Cost, PriceCatalog, PricingEngine

CHAT = {
    "provider": "openai",
    "mode": "chat",
    "input_per_million": "10",
    "output_per_million": "30",
    "cached_input_per_million": "5",
    "context_window": 1000,
    "max_output_tokens": 100,
    "supports_tools": True,
    "supports_vision": False,
    "quality": 0.8,
}
_m = CHAT
CATALOG = PriceCatalog.from_dict(
    {
        "prices_as_of": "2026-01-01",
        "models": {
            "big": CHAT,
            "small-better": {
                **_m,
                "input_per_million": "1",
                "output_per_million": "2",
                "cached_input_per_million": "0.5",
                "quality": 0.9,
            },
            "small-same": {
                **_m,
                "input_per_million": "2",
                "output_per_million": "4",
                "cached_input_per_million": "1",
                "quality": 0.8,
            },
            "small-worse": {
                **_m,
                "input_per_million": "0.1",
                "output_per_million": "0.2",
                "cached_input_per_million": "0.05",
                "quality": 0.7,
            },
            "dearer-better": {**_m, "input_per_million": "20", "output_per_million": "60", "quality": 0.95},
            "no-cache-rate": {**_m, "input_per_million": "3", "output_per_million": "3", "quality": 0.85}
            | {"cached_input_per_million": None},
            "embed": {
                "provider": "openai",
                "mode": "embedding",
                "input_per_million": "0.01",
                "context_window": 1000,
                "supports_tools": False,
                "supports_vision": False,
                "quality": 0.99,
            },
            "painter": {
                "provider": "openai",
                "mode": "image",
                "per_image": "0.04",
                "supports_tools": False,
                "supports_vision": False,
                "quality": 0.99,
            },
        },
    }
)
PRICING = PricingEngine(CATALOG, credits_per_usd=Decimal(100))
ALL = catalogued(CATALOG.models(), {})


def traffic(key: str | None, model: str, inp: int, out: int, cached: int, usd: str, requests: int = 1) -> Traffic:
    amount = Decimal(usd)
    return Traffic(key, model, model, requests, inp, out, cached, Cost(amount, amount * 100))


def by_catalog(t: Traffic) -> Candidate | None:
    price = CATALOG.get(t.served_model)
    return None if price is None else Candidate(price, price.quality)


def test_alternatives_are_cheaper_same_mode_and_at_least_as_good_with_exact_savings() -> None:
    # 1,000,000 in (200,000 of them cached), 100,000 out on `big`, charged by the ledger at big's prices:
    # 500,000 x $10/M + 100,000 x $5/M + 60,000 x $30/M = 7.3; 300,000 x 10 + 100,000 x 5 + 40,000 x 30 = 4.7
    rows = [
        traffic("k1", "big", 600_000, 60_000, 100_000, "7.3"),
        traffic("k1", "big", 400_000, 40_000, 100_000, "4.7"),
    ]
    found = insights(rows, by_catalog, ALL, PRICING, Decimal(30))
    (only,) = found.by_key
    assert (only.key_id, only.model.name, only.requests) == ("k1", "big", 2)
    assert (only.input_tokens, only.output_tokens, only.cached_tokens) == (1_000_000, 100_000, 200_000)
    assert only.cost == Cost(Decimal(12), Decimal(1200))
    names = [a.candidate.name for a in only.alternatives]
    # small-worse is cheaper but worse; dearer-better costs more (16 + 1 + 6); embed and painter are other modes
    assert names == ["small-better", "small-same", "no-cache-rate"]
    better, same, no_cache = only.alternatives
    # small-better: 800,000 x $1/M + 200,000 x $0.5/M (its cached rate) + 100,000 x $2/M = 0.8 + 0.1 + 0.2
    assert better.cost == Cost(Decimal("1.1"), Decimal("110"))
    assert better.saved == Cost(Decimal("10.9"), Decimal("1090"))
    assert better.saved_per_30_days == better.saved  # the range is 30 days
    # small-same: 800,000 x 2 + 200,000 x 1 + 100,000 x 4 (per M) = 1.6 + 0.2 + 0.4
    assert same.cost.usd == Decimal("2.2") and same.saved.usd == Decimal("9.8")
    # no-cache-rate has no cached price: its cached tokens are billed as input: 1,000,000 x 3 + 100,000 x 3
    assert no_cache.cost.usd == Decimal("3.3") and no_cache.saved.credits == Decimal(870)
    (per_model,) = found.by_model
    assert per_model.key_id is None and per_model.alternatives == only.alternatives


def test_per_key_and_per_model_sums_and_order() -> None:
    rows = [
        traffic("k1", "big", 1_000_000, 0, 0, "10"),
        traffic("k2", "big", 3_000_000, 0, 0, "30"),
        traffic("k2", "small-worse", 1_000_000, 0, 0, "0.1"),
    ]
    found = insights(rows, by_catalog, ALL, PRICING, Decimal(30))
    assert [(i.key_id, i.model.name) for i in found.by_key] == [("k2", "big"), ("k1", "big"), ("k2", "small-worse")]
    assert [(i.model.name, i.requests, i.input_tokens) for i in found.by_model] == [
        ("big", 2, 4_000_000),
        ("small-worse", 1, 1_000_000),
    ]
    assert found.by_model[0].alternatives[0].saved.usd == Decimal(40) - Decimal(4)  # small-better: 4M x $1/M
    # small-worse: everything cheaper is worse (nothing is), so no alternative
    assert found.by_model[1].alternatives == ()


def test_unpriced_and_non_token_models_are_listed_apart() -> None:
    rows = [
        traffic("k1", "mystery", 10, 10, 0, "0"),
        traffic("k1", "mystery", 5, 5, 0, "0", requests=2),
        traffic("k2", "painter", 0, 0, 0, "0.08", requests=2),
    ]
    found = insights(rows, by_catalog, ALL, PRICING, Decimal(30))
    assert found.by_key == () and found.by_model == ()
    assert [(u.key_id, u.model, u.requests) for u in found.unpriced] == [("k1", "mystery", 3), ("k2", "painter", 2)]
    assert "no price" in found.unpriced[0].reason and "image" in found.unpriced[1].reason


def test_embeddings_compare_with_embeddings_only() -> None:
    found = insights([traffic("k", "small-better", 1_000_000, 0, 0, "1")], by_catalog, ALL, PRICING, Decimal(30))
    # `embed` is far cheaper and better, but an embedding model cannot answer a chat call
    assert [a.candidate.name for a in found.by_key[0].alternatives] == []


def test_monthly_projection_scales_other_ranges() -> None:
    rows = [traffic("k", "big", 1_000_000, 0, 0, "10")]
    week = insights(rows, by_catalog, ALL, PRICING, Decimal(7)).by_key[0].alternatives[0]
    assert week.saved.usd == Decimal(9)  # small-better: $1
    assert week.saved_per_30_days.usd == Decimal("38.571428571429")  # 9 x 30 / 7, to 12 decimals
    hour = insights(rows, by_catalog, ALL, PRICING, Decimal(1) / Decimal(24)).by_key[0].alternatives[0]
    assert hour.saved_per_30_days.credits == Decimal(900 * 24 * 30)


def test_routable_candidates_use_the_deployments_price_and_quality_and_merge_names() -> None:
    big, better = CATALOG.require("big"), CATALOG.require("small-better")
    here = routable(
        [
            ("chat-big", "chat", big, None),
            ("fast", "chat", better, 0.5),  # the deployment scores it lower than the catalog does
            ("fast-too", "chat", better, None),  # same catalog model: one candidate, both names
            ("pics", "image_generation", CATALOG.require("painter"), None),
            ("unpriced", "chat", None, None),
        ]
    )
    assert [(c.name, c.quality, c.routes) for c in here] == [
        ("big", 0.8, ("chat-big",)),
        ("small-better", 0.5, ("fast", "fast-too")),
    ]
    found = insights([traffic("k", "big", 1_000_000, 0, 0, "10")], by_catalog, here, PRICING, Decimal(30))
    assert found.by_key[0].alternatives == ()  # scored 0.5 here: not as good as big's 0.8


def test_sentence() -> None:
    found = insights([traffic("k", "big", 1_000_000, 0, 0, "10")], by_catalog, ALL, PRICING, Decimal(30))
    i = found.by_key[0]
    assert sentence(i, i.alternatives[0], Decimal(30), "key `ci`") == (
        "moving key `ci` from big to small-better would have saved 900 credits in the last 30 days"
    )


MODELS = ["big", "small-better", "small-same", "small-worse", "dearer-better", "no-cache-rate"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["k1", "k2", None]),
            st.sampled_from(MODELS),
            st.integers(0, 10**9),
            st.integers(0, 10**8),
            st.integers(0, 100),
            st.decimals(0, 10**6, places=12),
        ),
        max_size=12,
    ),
    st.integers(1, 366),
)
def test_savings_are_exact_and_alternatives_obey_the_rules(rows: list[tuple], days: int) -> None:  # type: ignore[type-arg]
    data = [traffic(k, m, inp, out, inp * pct // 100, str(usd)) for k, m, inp, out, pct, usd in rows]
    found = insights(data, by_catalog, ALL, PRICING, Decimal(days))
    for i in (*found.by_key, *found.by_model):
        for a in i.alternatives:
            assert a.candidate.name != i.model.name and a.candidate.quality >= i.model.quality
            assert a.candidate.price.mode == i.model.price.mode
            assert a.cost == PRICING.cost_of(a.candidate.price, i.input_tokens, i.output_tokens, i.cached_tokens)
            assert a.saved.usd + a.cost.usd == i.cost.usd and a.saved.usd > 0
            assert a.saved.credits + a.cost.credits == i.cost.credits
        savings = [a.saved.usd for a in i.alternatives]
        assert savings == sorted(savings, reverse=True)
    assert sum(i.requests for i in found.by_model) == sum(i.requests for i in found.by_key) == len(data)
