"""The optimal allocation: exact on concave curves, sound on S-shaped ones, and in truth.json."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendlab.simulate.allocation import envelope_response, optimal_allocation
from spendlab.simulate.media import HILL, LOGISTIC, MediaParams


def curves(sat, K, S, lam, beta) -> MediaParams:
    n = len(beta)
    z = np.zeros(n)
    return MediaParams(
        np.zeros(n, dtype=int), z + 0.5, z, np.asarray(sat), np.asarray(K, float),
        np.asarray(S, float), np.asarray(lam, float), np.asarray(beta, float), 7,
    )  # fmt: skip


def random_curves(rng, n, s_max=4.0):
    sat = rng.integers(0, 2, n)
    return curves(
        sat,
        np.where(sat == HILL, rng.uniform(50, 200, n), np.nan),
        np.where(sat == HILL, rng.uniform(0.5, s_max, n), np.nan),
        np.where(sat == LOGISTIC, rng.uniform(0.005, 0.05, n), np.nan),
        rng.uniform(100, 1000, n),
    )


def brute_two(p: MediaParams, budget: float) -> float:
    x = np.linspace(0.0, budget, 40001)
    a = p.subset(np.array([0]))
    b = p.subset(np.array([1]))
    return float(
        (a.beta * a.saturated(x[None, :])[0] + b.beta * b.saturated((budget - x)[None, :])[0]).max()
    )


@pytest.mark.parametrize("seed", range(20))
def test_concave_two_campaigns_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    p = random_curves(rng, 2, s_max=1.0)
    budget = float(rng.uniform(10, 600))
    a = optimal_allocation(p, budget)
    assert a["outcome"] >= brute_two(p, budget) * (1 - 1e-9)
    assert a["envelope_outcome"] == pytest.approx(a["outcome"], rel=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_s_shaped_two_campaigns_bounded_by_envelope(seed):
    rng = np.random.default_rng(100 + seed)
    p = random_curves(rng, 2)
    budget = float(rng.uniform(10, 600))
    a = optimal_allocation(p, budget)
    best = brute_two(p, budget)
    assert a["envelope_outcome"] >= best * (1 - 1e-9)  # the envelope bounds every allocation
    # never worse than the simple corners
    corners = [float(p.response(np.array(c)).sum()) for c in ([budget, 0.0], [0.0, budget])]
    assert a["outcome"] >= max(corners) * (1 - 1e-12)
    assert a["outcome"] >= best * 0.98


def test_many_campaigns_equalise_marginal_returns():
    rng = np.random.default_rng(7)
    p = random_curves(rng, 300)
    p.beta[:5] = 0.0  # zero-effect campaigns get nothing
    budget = 12_000.0
    a = optimal_allocation(p, budget)
    s = a["spend"]
    assert s.sum() == pytest.approx(budget, rel=1e-12)
    assert np.all(s >= 0) and np.all(s[:5] == 0)
    interior = a["status"] == "interior"
    assert interior.sum() > 50
    mg = p.marginal(s)
    np.testing.assert_allclose(mg[interior], a["multiplier"], rtol=1e-6)
    # campaigns left at zero: even their best average return (envelope slope) is below mu
    zero = (a["status"] == "zero") & (p.beta > 0)
    env_slope = envelope_response(p, np.full(p.beta.size, 1e-6)) / 1e-6
    assert np.all(env_slope[zero] <= a["multiplier"] * (1 + 1e-6))
    assert a["outcome"] <= a["envelope_outcome"] * (1 + 1e-12)


def test_concave_optimum_survives_perturbations():
    rng = np.random.default_rng(3)
    p = random_curves(rng, 30, s_max=1.0)
    a = optimal_allocation(p, 5000.0)
    s = a["spend"]
    best = a["outcome"]
    for _ in range(300):
        i, j = rng.choice(30, 2, replace=False)
        d = rng.uniform(0, 1) * s[i]
        s2 = s.copy()
        s2[i] -= d
        s2[j] += d
        assert float(p.response(s2).sum()) <= best * (1 + 1e-12)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    budget=st.floats(1.0, 1e6, allow_nan=False),
)
def test_allocation_sums_to_budget_and_is_nonnegative(seed, n, budget):
    p = random_curves(np.random.default_rng(seed), n)
    a = optimal_allocation(p, budget)
    assert np.all(a["spend"] >= 0)
    assert a["spend"].sum() == pytest.approx(budget, rel=1e-9)
    assert a["outcome"] <= a["envelope_outcome"] * (1 + 1e-9)


def test_truth_optimum_beats_actual_and_equalises_marginals(market):
    alloc = market.truth["allocation"]
    assert alloc["optimal_outcome"] > alloc["actual_outcome"]
    assert alloc["gain"] == pytest.approx(alloc["optimal_outcome"] - alloc["actual_outcome"])
    camps = alloc["campaigns"]
    assert sum(c["optimal"] for c in camps.values()) == pytest.approx(alloc["budget"], rel=1e-9)
    assert sum(c["actual"] for c in camps.values()) == pytest.approx(alloc["budget"], rel=1e-9)
    interior = [c["marginal_optimal"] for c in camps.values() if c["status"] == "interior"]
    assert len(interior) >= 2
    np.testing.assert_allclose(interior, alloc["multiplier"], rtol=1e-6)
    # the zero-effect retargeting campaigns get nothing at the optimum
    rt = market.truth["channels"]["retargeting"]["campaign_ids"]
    assert all(camps[c]["optimal"] == 0 for c in rt)


def test_custom_budget():
    from spendlab.simulate import SimConfig, simulate

    m = simulate(SimConfig(seed=2, days=60, campaigns=8, users=50, customers=5, budget=1234.5))
    camps = m.truth["allocation"]["campaigns"].values()
    assert sum(c["optimal"] for c in camps) == pytest.approx(1234.5, rel=1e-9)
