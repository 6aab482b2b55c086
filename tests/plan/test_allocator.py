"""The daily allocator: pooled estimates, budget and change limits, regret on a simulated market,
and its actions in the rules engine's form."""

from __future__ import annotations

import importlib.util
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from spendlab.automate import store
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError, DataError
from spendlab.plan.allocator import AllocatorConfig, allocate_day, budget_actions
from spendlab.plan.constraints import InfeasibleError
from spendlab.plan.estimate import GRID, fit_pooled

BENCH = Path(__file__).resolve().parents[2] / "bench" / "allocator.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_allocator", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _mm_history(eta, groups, days, rng, *, spread=0.3, noise=0.2, ref=None):
    """Michaelis-Menten campaigns with elasticity logistic(eta) at their reference spend."""
    n = len(eta)
    ref = np.exp(rng.normal(5, 0.5, n)) if ref is None else ref
    e = 1 / (1 + np.exp(-np.asarray(eta)))
    h = ref * e / (1 - e)
    beta = 2.0 * (h + ref)  # average return 2 at the reference spend
    rows = []
    for i in range(n):
        x = ref[i] * np.exp(rng.normal(0, spread, days[i]))
        y = beta[i] * x / (h[i] + x) * np.exp(rng.normal(0, noise, days[i]) - noise**2 / 2)
        rows.append(
            pd.DataFrame(
                {
                    "id": f"c{i}",
                    "group": groups[i],
                    "date": pd.date_range("2024-01-01", periods=days[i]),
                    "spend": x,
                    "outcome": y,
                }
            )
        )
    return pd.concat(rows, ignore_index=True), ref


def test_sparse_campaign_shrinks_to_its_group() -> None:
    rng = np.random.default_rng(1)
    n = 61
    eta = np.r_[rng.normal(-1.0, 0.3, 30), rng.normal(1.5, 0.3, 30), 3.0]
    groups = ["a"] * 30 + ["b"] * 30 + ["a"]
    days = [40] * 60 + [3]
    hist, _ = _mm_history(eta, groups, days, rng)
    fit = fit_pooled(hist)
    assert fit.group_mu["a"] == pytest.approx(-1.0, abs=0.3)
    assert fit.group_mu["b"] == pytest.approx(1.5, abs=0.3)
    # three days say little: the sparse campaign (true eta 3.0) sits near its group's mean,
    # well below what its own likelihood alone says, and its posterior stays wide
    sparse = fit.eta_mean[n - 1]
    own = float(GRID[np.argmax(fit.loglik[n - 1])])
    assert abs(sparse - fit.group_mu["a"]) < abs(own - fit.group_mu["a"])
    assert abs(sparse - fit.group_mu["a"]) < 0.6
    assert fit.eta_sd[n - 1] > 1.2 * np.median(fit.eta_sd[:30])
    # rich campaigns are estimated close to their own truth (shrinkage is mild)
    err = np.abs(fit.eta_mean[:60] - eta[:60])
    assert np.median(err) < 0.35


def test_estimate_converges_to_the_truth_with_data() -> None:
    rng = np.random.default_rng(7)
    truth = 0.8
    errs, sds = [], []
    others = rng.normal(0.0, 0.8, 20)
    for days in (20, 160, 640):
        eta = np.r_[truth, others]
        hist, _ = _mm_history(eta, ["g"] * 21, [days] + [10] * 20, rng, spread=0.4)
        fit = fit_pooled(hist)
        errs.append(abs(fit.eta_mean[0] - truth))
        sds.append(fit.eta_sd[0])
        s = fit.summary().iloc[0]
        lo, hi = s.elasticity_lo, s.elasticity_hi
    assert sds[2] < sds[1] < sds[0]
    assert sds[2] < 0.5 * sds[0]
    assert errs[2] < 0.25
    e_true = 1 / (1 + np.exp(-truth))
    assert lo <= e_true <= hi


def _problem(seed: int, n: int, days: int):
    rng = np.random.default_rng(seed)
    eta = rng.normal(0, 1, n)
    hist, ref = _mm_history(eta, list("ab" * n)[:n], [days] * n, rng)
    cur = pd.Series(ref * np.exp(rng.normal(0, 0.3, n)), index=[f"c{i}" for i in range(n)])
    return hist, cur.round(2)


@settings(max_examples=25)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 12),
    days=st.integers(3, 20),
    cap=st.floats(0.05, 0.5),
    shift=st.floats(-0.9, 0.9),
    explore=st.sampled_from(["targeted", "thompson", "mean"]),
)
def test_sums_to_budget_and_respects_change_limits(seed, n, days, cap, shift, explore) -> None:
    hist, cur = _problem(seed, n, days)
    budget = round(float(cur.sum()) * (1 + shift * cap), 2)
    cfg = AllocatorConfig(max_change=cap, explore=explore, dead_band=min(0.01, cap / 2))
    a = allocate_day(hist, cur, budget, config=cfg, seed=seed)
    new = a.frame["new"].to_numpy()
    assert abs(new.sum() - budget) < 1e-6
    assert np.all(np.abs(new - cur.to_numpy()) <= cap * cur.to_numpy() + 0.011)
    assert np.all(new >= 0)
    assert a.expected["lo"] <= a.expected["mean"] <= a.expected["hi"]
    # the same seed gives the same allocation
    b = allocate_day(hist, cur, budget, config=cfg, seed=seed)
    assert np.array_equal(new, b.frame["new"].to_numpy())


def test_ends_near_the_oracle_and_beats_equal_split() -> None:
    bench = _bench()
    m = bench.make_market(80, 3, seed=5, scramble=0.8)
    score = {
        p: bench.simulate(m, p, days=30, warmup=10, cap=0.2, noise=0.3, seed=5)[0]
        for p in ("oracle", "allocator", "equal split", "status quo")
    }
    assert score["allocator"] >= 0.95 * score["oracle"]
    assert score["allocator"] > score["equal split"]
    assert score["allocator"] > score["status quo"]


def test_errors_are_clear() -> None:
    hist, cur = _problem(0, 4, 10)
    with pytest.raises(ConfigError, match="budget must be > 0"):
        allocate_day(hist, cur, 0.0)
    with pytest.raises(InfeasibleError, match="out of reach in one day"):
        allocate_day(hist, cur, float(cur.sum()) * 2)
    with pytest.raises(DataError, match="no history"):
        allocate_day(hist.iloc[:0], cur)
    with pytest.raises(ConfigError, match="explore"):
        AllocatorConfig(explore="greedy")


def test_campaign_without_history_keeps_its_budget() -> None:
    hist, cur = _problem(3, 5, 10)
    cur["new-one"] = 50.0
    a = allocate_day(hist, cur, float(cur.sum()))
    row = a.frame.set_index("id").loc["new-one"]
    assert row.new == 50.0 and row.binding == "no data"
    assert any("no data" in n for n in a.notes)


def test_actions_round_trip_and_are_logged() -> None:
    hist, cur = _problem(4, 6, 15)
    a = allocate_day(hist, cur, float(cur.sum()) * 1.05)
    refs = {i: EntityRef("google_ads", Level.CAMPAIGN, "acc", i) for i in cur.index}
    acts = budget_actions(a, refs, date(2024, 3, 1), run_id="r1")
    assert acts and all(x.kind is ActionKind.SET_BUDGET for x in acts)
    for x in acts:
        assert isinstance(x.new_value, Decimal) and x.new_value == x.new_value.quantize(
            Decimal("0.01")
        )
        assert x.rule_id == "allocator" and x.source == "allocator"
        assert "vs portfolio" in x.reason and "cap 20%" in x.reason
        assert Action.from_dict(x.to_dict()) == x
    changed = a.frame[a.frame["change"] != 0]
    assert len(acts) == len(changed)
    engine = sa.create_engine("sqlite://")
    store.create_all(engine)
    rs = store.RuleStore(engine, "ws")
    ids = store.log_actions(rs, acts)
    back = [b for _, b, _ in store.select_actions(rs, ids=ids)]
    assert back == acts


def test_exploration_only_where_the_move_is_in_doubt() -> None:
    rng = np.random.default_rng(11)
    # clear cases: strongly and weakly saturated campaigns with long, varied histories
    eta = np.r_[np.full(5, -2.5), np.full(5, 2.5)]
    hist, ref = _mm_history(eta, ["g"] * 10, [120] * 10, rng, spread=0.5, noise=0.1)
    cur = pd.Series(ref, index=[f"c{i}" for i in range(10)])
    targeted = allocate_day(hist, cur, config=AllocatorConfig(explore="targeted"), seed=1)
    greedy = allocate_day(hist, cur, config=AllocatorConfig(explore="mean"), seed=1)
    ratio = greedy.frame["mroas_mean"] / greedy.portfolio_mroas
    clear = ((ratio > 1.5) | (ratio < 1 / 1.5)).to_numpy()
    assert clear.sum() >= 5
    assert not targeted.frame["explored"].to_numpy()[clear].any()
    # a full Thompson draw perturbs every campaign's curve
    thompson = allocate_day(hist, cur, config=AllocatorConfig(explore="thompson"), seed=1)
    assert thompson.frame["explored"].all()


def test_optimal_budgets_stay_put() -> None:
    """Budgets already at the allocator's optimum produce no changes (dead band)."""
    hist, cur = _problem(8, 6, 30)
    cfg = AllocatorConfig(explore="mean", max_change=0.5)
    for _ in range(12):  # walk to the optimum of the (fixed) fitted curves
        a = allocate_day(hist, cur, config=cfg)
        cur = a.frame.set_index("id")["new"]
    a = allocate_day(hist, cur, config=cfg)
    assert (a.frame["change"] == 0).all() and a.frame["held"].all()
    refs = {i: EntityRef("meta", Level.CAMPAIGN, "acc", i) for i in cur.index}
    assert budget_actions(a, refs, date(2024, 3, 1)) == []
