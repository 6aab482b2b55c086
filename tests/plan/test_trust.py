"""The trust region of a recommendation: bounds from the observed spend range (or a max step
where history is flat), flagged and capped extrapolation, an honest uplift interval from the
posterior draws, and "test before you move" when the draws disagree. Hand-made curve sets with
known optima; no MCMC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spendlab.plan.constraints import Constraints, TrustRegion, build_bounds, trust_bounds
from spendlab.plan.curves import curves_from_frame
from spendlab.plan.curvesets import CurveSet
from spendlab.plan.optimizer import optimize
from spendlab.plan.scenarios import recommend

# exponential curves f(x) = beta (1 - exp(-x / scale)): a's marginal is 10x b's at equal spend
FRAME = pd.DataFrame(
    [
        {"id": "a", "type": "exponential", "beta": 1000.0, "scale": 100.0},
        {"id": "b", "type": "exponential", "beta": 100.0, "scale": 100.0},
    ]
)
CURRENT = {"a": 100.0, "b": 100.0}
# a ran between 60 and 140 a day; b's history is flat at 100
OBSERVED = {
    "a": {"q_lo": 60.0, "q_hi": 140.0, "min": 55.0, "max": 145.0},
    "b": {"q_lo": 100.0, "q_hi": 100.0, "min": 100.0, "max": 100.0},
}


def _cs(frame: pd.DataFrame) -> CurveSet:
    return CurveSet(id=0, name="hand", period="day", source="manual", frame=frame)


def test_trust_bounds_observed_range_or_max_step() -> None:
    t = trust_bounds(
        np.array([100.0, 100.0, 50.0]),
        np.array([60.0, 100.0, np.nan]),
        np.array([140.0, 100.0, np.nan]),
        TrustRegion(margin=0.1, max_step=0.3),
    )
    assert t.lo == pytest.approx([54.0, 70.0, 35.0])
    assert t.hi == pytest.approx([154.0, 130.0, 65.0])
    assert list(t.lo_why) == ["observed range", "max step", "max step"]
    assert list(t.hi_why) == ["observed range", "max step", "max step"]


def test_user_constraint_wins_a_clash_with_the_trust_region() -> None:
    t = trust_bounds(np.array([100.0]), np.array([100.0]), np.array([100.0]), TrustRegion())
    b = build_bounds(["a"], Constraints(min={"a": 200.0}, trust=t), np.array([100.0]))
    assert (b.lo[0], b.hi[0]) == (200.0, 200.0)
    assert (b.lo_src[0], b.hi_src[0]) == ("min spend", "min spend")
    b = build_bounds(["a"], Constraints(max={"a": 120.0}, trust=t), np.array([100.0]))
    assert (b.lo[0], b.hi[0], b.hi_src[0]) == (70.0, 120.0, "max spend")


def test_bounds_listed_and_binding_flags_at_the_known_optimum() -> None:
    # a's marginal beats b's everywhere in the box, so b goes to its lower bound 70 (max step)
    # and a takes the rest: 130, inside its range [54, 154] (observed range +-10%)
    rec = recommend(_cs(FRAME), CURRENT, observed=OBSERVED, trust=TrustRegion())
    assert rec["allocation"] == pytest.approx({"a": 130.0, "b": 70.0})
    ents = {e["id"]: e for e in rec["trust"]["entities"]}
    assert ents["a"] | {"observed": None} == {
        "id": "a",
        "current": 100.0,
        "recommended": pytest.approx(130.0),
        "lo": pytest.approx(54.0),
        "hi": pytest.approx(154.0),
        "lo_why": "observed range",
        "hi_why": "observed range",
        "binds": None,
        "observed": None,
        "outside_observed": False,
    }
    assert ents["a"]["observed"]["q_hi"] == 140.0
    assert (ents["b"]["lo"], ents["b"]["hi"]) == pytest.approx((70.0, 130.0))
    assert (ents["b"]["lo_why"], ents["b"]["binds"]) == ("max step", "lo")
    assert ents["b"]["outside_observed"] is True  # b never ran below 100: a flagged move
    assert rec["outside_observed"] == ["b"]
    assert any("b: held at its lower bound 70 by max step" in s for s in rec["binding"])
    assert rec["trust"]["region"]["max_step"] == 0.3
    assert rec["budget"] == 200.0 and sum(rec["allocation"].values()) == pytest.approx(200.0)


def test_extrapolation_is_flagged_without_and_capped_with_the_trust_region() -> None:
    old = recommend(_cs(FRAME), CURRENT, observed=OBSERVED, trust=None)
    assert old["allocation"] == pytest.approx({"a": 200.0, "b": 0.0})  # all on a
    assert old["outside_observed"] == ["a", "b"]  # 200 > a's max 145, 0 < b's min 100
    assert any("outside the historically observed" in n for n in old["notes"])
    assert old["trust"]["region"] is None
    capped = recommend(
        _cs(FRAME), CURRENT, observed=OBSERVED, trust=TrustRegion(margin=0.0, max_step=0.0)
    )
    # b flat with a zero step: held at 100; a within [60, 140] keeps the other 100
    assert capped["allocation"] == pytest.approx({"a": 100.0, "b": 100.0})
    assert capped["outside_observed"] == []


def test_a_budget_the_trust_region_cannot_hold_is_reduced_and_said() -> None:
    rec = recommend(_cs(FRAME), CURRENT, budget=1000.0, observed=OBSERVED, trust=TrustRegion())
    assert sum(rec["allocation"].values()) == pytest.approx(154.0 + 130.0)
    assert rec["budget"] == pytest.approx(284.0)
    assert "does not fit the trust region" in rec["notes"][0]


def _draws(beta_a: np.ndarray, beta_b: np.ndarray) -> pd.DataFrame:
    rows = []
    for d, (ba, bb) in enumerate(zip(beta_a, beta_b, strict=True)):
        rows.append({"id": "a", "draw": d, "type": "exponential", "beta": ba, "scale": 100.0})
        rows.append({"id": "b", "draw": d, "type": "exponential", "beta": bb, "scale": 100.0})
    return pd.DataFrame(rows)


def test_uplift_interval_comes_from_the_draws_and_covers_the_known_value() -> None:
    # beta factors spread +-40% around the hand curve, a and b moving in opposite directions: a
    # sum of per-entity extremes would be much wider than the draws' own uplift
    k = np.linspace(-0.4, 0.4, 101)
    frame = _draws(1000.0 * (1 + k), 100.0 * (1 - k))
    rec = recommend(_cs(frame), CURRENT, observed=OBSERVED, trust=TrustRegion())
    x = np.array([rec["allocation"]["a"], rec["allocation"]["b"]])
    assert x == pytest.approx([130.0, 70.0])
    f = curves_from_frame(frame, id_column="id")
    per_draw = f.response(x).sum(axis=1) - f.response(np.array([100.0, 100.0])).sum(axis=1)
    up = rec["uplift"]
    assert (up["lo"], up["hi"]) == pytest.approx(tuple(np.quantile(per_draw, [0.05, 0.95])))
    point = curves_from_frame(FRAME, id_column="id")
    known = float(point.response(x).sum() - point.response(np.array([100.0, 100.0])).sum())
    assert up["lo"] < known < up["hi"] and up["mean"] == pytest.approx(known)
    assert up["p_positive"] == 1.0
    assert rec["trust"]["test_first"] is False
    assert "agree that this move helps" in rec["trust"]["advice"]


def test_test_before_you_move_when_the_draws_disagree_in_sign() -> None:
    # in 60 of 100 draws a is the better channel, in 40 b is (by far): the mean says move to a
    beta_a = np.where(np.arange(100) < 60, 1000.0, 100.0)
    beta_b = np.where(np.arange(100) < 60, 100.0, 1050.0)
    frame = _draws(beta_a, beta_b)
    wide = TrustRegion(max_step=0.5)
    rec = recommend(_cs(frame), CURRENT, observed=OBSERVED, trust=wide)
    assert rec["allocation"]["a"] > 100.0
    p = rec["uplift"]["p_positive"]
    assert p == pytest.approx(0.6)
    assert rec["uplift"]["lo"] < 0 < rec["uplift"]["hi"]
    t = rec["trust"]
    assert t["test_first"] is True and t["p_positive"] == pytest.approx(0.6)
    assert t["advice"].startswith("Test before you move")
    assert "a +" in t["advice"] and "b -" in t["advice"]
    assert "hold out about 20% of geos" in t["advice"] and "4 weeks" in t["advice"]


def test_draw_objective_respects_a_lower_bound_between_inflection_and_tangent() -> None:
    # Hill s=2, half=100: inflection 57.7, tangent point 100. With spend held in [80, 120] the
    # posterior-mean objective must solve like the point curve of the mean beta (it used to be
    # pushed to the tangent point, a chord from 0 that the lower bound rules out)
    base = pd.DataFrame(
        [
            {"id": "a", "type": "hill", "beta": 1000.0, "half": 100.0, "s": 2.0},
            {"id": "b", "type": "hill", "beta": 800.0, "half": 100.0, "s": 2.0},
        ]
    )
    f = np.array([0.8, 1.0, 1.2])
    draws = pd.concat([base.assign(draw=d, beta=base["beta"] * f[d]) for d in range(3)])
    cons = Constraints(min=np.array([80.0, 80.0]), max=np.array([120.0, 120.0]))
    cur = np.array([90.0, 90.0])
    curves = curves_from_frame(draws, id_column="id")
    with_draws = optimize(curves, 170.0, constraints=cons, current=cur)
    point = optimize(curves_from_frame(base, id_column="id"), 170.0, constraints=cons, current=cur)
    assert with_draws.frame["spend"].to_numpy() == pytest.approx(
        point.frame["spend"].to_numpy(), rel=1e-4
    )
    assert with_draws.kkt_gap == pytest.approx(point.kkt_gap, abs=1e-9)


def test_a_budget_below_the_trust_floors_is_spent_not_exceeded() -> None:
    rec = recommend(_cs(FRAME), CURRENT, budget=100.0, observed=OBSERVED, trust=TrustRegion())
    assert sum(rec["allocation"].values()) == pytest.approx(100.0)
    assert rec["allocation"] == pytest.approx({"a": 100.0, "b": 0.0})
    assert "below the trust region's lower bounds" in rec["notes"][0]
