"""Every model's credits add up; Shapley against hand enumeration; heuristics by hand."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendlab.errors import ConfigError, NotFittedError
from spendlab.measure.attribution import (
    MODELS,
    DataDrivenAttribution,
    LastTouch,
    Linear,
    ShapleyAttribution,
    from_frame,
    make_model,
)
from spendlab.measure.attribution.shapley import shapley_lattice


def paths(rows):
    return from_frame(pd.DataFrame(rows, columns=["path", "conversions", "nulls", "value"]))


row = st.tuples(
    st.lists(st.sampled_from(["a", "b", "c", "direct"]), min_size=1, max_size=6).map(" > ".join),
    # fractional conversions, but not 1e-308 of one carrying a whole order's value (the value per
    # conversion overflows float64; no real export has that)
    st.floats(0, 20).map(lambda x: x if x >= 1e-6 else 0.0),
    st.integers(0, 20),
    st.floats(0, 500),
)


@pytest.mark.slow
@settings(max_examples=25)
@given(st.lists(row, min_size=1, max_size=12))
def test_credits_sum_to_conversions_and_value_for_every_model(rows):
    rows = [(p, c, n, v if c > 0 else 0.0) for p, c, n, v in rows]
    rows.append(("a > b", 1.5, 2, 10.0))
    p = paths(rows)
    for name in MODELS:
        c = make_model(name).fit(p).credits_
        assert c["conversions"].sum() == pytest.approx(p.total_conversions, rel=1e-9), name
        assert c["value"].sum() == pytest.approx(p.total_value, rel=1e-9, abs=1e-9), name
        assert c["share"].sum() == pytest.approx(1.0, rel=1e-9), name


def test_heuristics_by_hand():
    p = paths([("a > b > c > d", 1, 0, 100.0), ("direct", 1, 0, 10.0), ("a > direct", 2, 0, 0.0)])

    def credit(name, **kw):
        return make_model(name, **kw).fit(p).credits_.set_index("channel")["conversions"].to_dict()

    assert credit("first_touch") == {"a": 3, "b": 0, "c": 0, "d": 0, "direct": 1}
    assert credit("last_touch") == {"a": 0, "b": 0, "c": 0, "d": 1, "direct": 3}
    assert credit("last_non_direct") == {"a": 2, "b": 0, "c": 0, "d": 1, "direct": 1}
    assert credit("linear") == pytest.approx(
        {"a": 1.25, "b": 0.25, "c": 0.25, "d": 0.25, "direct": 2}
    )
    assert credit("position") == pytest.approx(
        {"a": 1.4, "b": 0.1, "c": 0.1, "d": 0.4, "direct": 2}
    )
    # W: first, middle ((4-1)//2 = 1 -> b) and last get 0.3, c gets 0.1
    assert credit("w_shaped") == pytest.approx(
        {"a": 1.3, "b": 0.3, "c": 0.1, "d": 0.3, "direct": 2}
    )
    w = 2.0 ** (-np.arange(3, -1, -1) / 2.0)
    td = credit("time_decay", half_life=2.0)
    assert td["a"] == pytest.approx(w[0] / w.sum() + 2 / (1 + 2**-0.5) * 2**-0.5)


def _brute_shapley(players, v):
    phi = dict.fromkeys(players, 0.0)
    perms = list(permutations(players))
    for order in perms:
        seen = frozenset()
        for pl in order:
            phi[pl] += v(seen | {pl}) - v(seen)
            seen = seen | {pl}
    return {k: x / len(perms) for k, x in phi.items()}


def test_lattice_matches_permutation_enumeration():
    rng = np.random.default_rng(0)
    n = 5
    v = rng.random(1 << n)
    v[0] = 0
    phi = shapley_lattice(v, n)
    brute = _brute_shapley(range(n), lambda s: v[sum(1 << i for i in s)])
    assert phi == pytest.approx([brute[i] for i in range(n)], rel=1e-12)


def test_rate_shapley_on_a_hand_enumerated_case():
    # journeys: a only 10 conv / 100, b only 20 / 100, a+b 30 / 100
    # rate game over "journeys within S": v(a) = .1, v(b) = .2, v(ab) = 60/300 = .2
    # phi_a = 1/2 (.1 - 0) + 1/2 (.2 - .2) = .05; phi_b = 1/2 (.2) + 1/2 (.2 - .1) = .15
    p = paths([("a", 10, 90, 0), ("b", 20, 80, 0), ("a > b", 30, 70, 0)])
    m = ShapleyAttribution().fit(p)
    assert m.values_ == pytest.approx([0.05, 0.15], rel=1e-12)
    assert m.credits_["conversions"].tolist() == pytest.approx([15.0, 45.0], rel=1e-12)


def test_count_shapley_is_linear_over_unique_channels():
    """The documented pitfall: Zhao et al.'s simplified Shapley equals linear attribution over
    the distinct channels of each path."""
    rng = np.random.default_rng(5)
    rows = []
    for _ in range(40):
        chans = rng.choice(list("abcdef"), rng.integers(1, 5), replace=False)
        rows.append((" > ".join(chans), float(rng.integers(0, 9)), 3, 0.0))
    rows.append(("a", 1.0, 0, 0.0))
    p = paths(rows)
    shap = ShapleyAttribution(game="count").fit(p).credits_["conversions"].to_numpy()
    lin = Linear().fit(p).credits_["conversions"].to_numpy()
    assert shap == pytest.approx(lin, rel=1e-10)


def test_shapley_channel_limit():
    rows = [(" > ".join(f"c{i}" for i in range(j, j + 3)), 1, 1, 0) for j in range(25)]
    with pytest.raises(ConfigError, match="exact Shapley enumerates"):
        ShapleyAttribution().fit(paths(rows))


def test_data_driven_credits_the_channel_that_lifts_conversion():
    # b lifts the conversion rate, a does not: a journey a > b credits b
    p = paths([("a", 5, 95, 0), ("b", 30, 70, 0), ("a > b", 30, 70, 0), ("c", 5, 95, 0)])
    c = DataDrivenAttribution().fit(p).credits_.set_index("channel")
    assert c.loc["b", "conversions"] == pytest.approx(60.0, abs=0.5)
    assert c.loc["a", "conversions"] == pytest.approx(5.0, abs=0.5)
    g = DataDrivenAttribution("lightgbm", num_threads=1).fit(p).credits_.set_index("channel")
    assert g.loc["b", "conversions"] > g.loc["a", "conversions"]


def test_bootstrap_intervals_cover_the_point_and_are_reproducible():
    p = paths([("a > b", 40, 60, 400.0), ("b", 30, 170, 300.0), ("c > a", 10, 90, 50.0)])
    for name in ("markov", "linear", "shapley"):
        m = make_model(name).fit(p)
        c1 = m.bootstrap(100, seed=1).copy()
        c2 = make_model(name).fit(p).bootstrap(100, seed=1)
        assert np.allclose(c1["conversions_lo"], c2["conversions_lo"])
        assert (c1["conversions_lo"] <= c1["conversions"] + 1e-9).all()
        assert (c1["conversions_hi"] >= c1["conversions"] - 1e-9).all()
        assert (c1["conversions_hi"] > c1["conversions_lo"]).all()
        # every draw still adds up to its own total
        assert m.draws_[:, :, 0].sum(axis=1).std() > 0


def test_not_fitted():
    with pytest.raises(NotFittedError):
        LastTouch().to_dict()
