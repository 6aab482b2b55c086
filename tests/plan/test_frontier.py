"""Efficiency frontier: monotone and concave for concave curves, equal to optimize(B) at B, and
the target-efficiency questions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendlab.errors import ConfigError
from spendlab.plan.constraints import Constraints, InfeasibleError
from spendlab.plan.curves import from_arrays
from spendlab.plan.frontier import efficiency_frontier
from spendlab.plan.optimizer import optimize


def _concave(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return from_arrays(
        [f"c{i}" for i in range(n)],
        "hill",
        beta=rng.uniform(10, 100, n),
        half=rng.uniform(10, 200, n),
        s=rng.uniform(0.4, 1.0, n),
    )


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 30), seed=st.integers(0, 10_000))
def test_frontier_is_monotone_and_concave_for_concave_curves(n: int, seed: int) -> None:
    curves = _concave(n, seed)
    f = efficiency_frontier(curves, max_budget=50.0 * n, points=21)
    y = f.frame["outcome"].to_numpy()
    assert np.all(np.diff(y) >= -1e-9 * y.max())
    slopes = np.diff(y) / np.diff(f.frame["budget"].to_numpy())
    assert np.all(np.diff(slopes) <= 1e-7 * max(slopes.max(), 1.0))
    assert (f.frame["kkt_gap"] <= 1e-9).all()
    # the multiplier is the frontier's slope: between the chords on either side
    m = f.frame["mroas"].to_numpy()[1:-1]
    assert np.all(m <= slopes[:-1] * (1 + 1e-7)) and np.all(m >= slopes[1:] * (1 - 1e-7))


def test_point_at_budget_equals_optimize() -> None:
    curves = _concave(8, 1)
    cons = Constraints(max={"c0": 40.0})
    f = efficiency_frontier(curves, budgets=[100.0, 250.0, 400.0], constraints=cons)
    for b, out in zip(f.frame["budget"], f.frame["outcome"], strict=True):
        ref = optimize(curves, b, constraints=cons)
        assert out == ref.expected["mean"]
        best = f.best_at(b)
        assert best.allocation == ref.allocation
    assert f.best_at(250.0).frame.loc[0, "spend"] <= 40.0 + 1e-9


def test_largest_budget_for_a_marginal_or_average_return_target() -> None:
    curves = _concave(5, 2)
    f = efficiency_frontier(curves, max_budget=500.0, points=11)
    for metric in ("mroas", "iroas"):
        t = float(np.median(f.frame[metric].to_numpy()[1:]))
        ans = f.max_budget(t, metric)
        assert ans["value"] == pytest.approx(t, rel=1e-6)
        res = optimize(curves, ans["budget"] * 1.01)
        above = res.multiplier if metric == "mroas" else res.expected["mean"] / res.total_spend
        assert above < t
    with pytest.raises(InfeasibleError, match="no budget"):
        f.max_budget(1e9, "iroas")
    with pytest.raises(ConfigError, match="metric"):
        f.max_budget(1.0, "roas")


def test_infeasible_budgets_are_left_out_and_named() -> None:
    curves = _concave(3, 3)
    f = efficiency_frontier(curves, budgets=[10.0, 100.0, 200.0], constraints=Constraints(min=20))
    assert f.frame["budget"].tolist() == [100.0, 200.0]
    assert "left out" in f.notes[0]
    assert f.to_dict()["points"][0]["budget"] == 100.0


def test_max_draws_thins_the_posterior_and_says_so() -> None:
    rng = np.random.default_rng(4)
    curves = from_arrays(["a", "b"], "exponential", beta=rng.uniform(5, 10, (40, 2)),
                         scale=np.full((40, 2), 20.0))  # fmt: skip
    f = efficiency_frontier(curves, budgets=[30.0], max_draws=8)
    assert f.curves.draws == 8 and "8 of 40" in f.notes[0]
    assert f.frame["outcome"].iloc[0] == optimize(f.curves, 30.0).expected["mean"]
    assert np.array_equal(f.curves.blocks[0][1].params["beta"][-1], curves.blocks[0][1].params[
        "beta"][-1])  # fmt: skip


def test_answer_below_the_first_grid_point_is_found() -> None:
    curves = _concave(4, 5)
    f = efficiency_frontier(curves, max_budget=1e4, points=3)  # budgets 0, 5000, 10000
    t = f.frame["mroas"].iloc[1] * 3  # only met well below 5000
    ans = f.max_budget(t, "mroas")
    assert 0 < ans["budget"] < 5000 and ans["value"] == pytest.approx(t, rel=1e-5)
