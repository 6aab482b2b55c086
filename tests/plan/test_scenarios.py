"""Scenarios: operations, predictions equal to curve evaluation, intervals from draws, compare."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spendlab.errors import ConfigError
from spendlab.plan.curves import from_arrays
from spendlab.plan.curvesets import CurveSet
from spendlab.plan.scenarios import (
    apply_operations,
    build_scenario,
    compare,
    compare_table,
    parse_operation,
    predict,
    recommend,
)

IDS = ["tv", "search", "social"]
FRAME = pd.DataFrame(
    {
        "channel": IDS,
        "type": ["hill", "logistic", "exponential"],
        "beta": [500.0, 300.0, 250.0],
        "half": [400.0, np.nan, np.nan],
        "s": [0.8, np.nan, np.nan],
        "lam": [np.nan, 0.004, np.nan],
        "scale": [np.nan, np.nan, 300.0],
    }
)
CURRENT = {"tv": 500.0, "search": 300.0, "social": 200.0}


def _cs(frame: pd.DataFrame = FRAME) -> CurveSet:
    return CurveSet(1, "test", "week", "manual", frame.rename(columns={"channel": "id"}))


def _draw_frame(draws: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(draws):
        for i, ch in enumerate(IDS):
            rows.append(
                {"id": ch, "draw": d, "type": "michaelis_menten",
                 "beta": rng.lognormal(np.log(300 + 100 * i), 0.2), "half": 250.0 + 50 * i}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_operations_text_and_dict_forms_agree() -> None:
    assert parse_operation("shift 20% from tv to social") == {
        "op": "shift", "from": "tv", "to": "social", "pct": 20.0}  # fmt: skip
    assert parse_operation("Scale tv by -10%") == {"op": "scale", "channel": "tv", "pct": -10.0}
    assert parse_operation("set search to 250") == {"op": "set", "channel": "search", "value": 250}
    out = apply_operations(
        CURRENT, ["shift 20% of tv to social", {"op": "scale", "channel": "search", "pct": 50}]
    )
    assert out == pytest.approx({"tv": 400.0, "search": 450.0, "social": 300.0})
    assert sum(apply_operations(CURRENT, ["shift 35% from tv to search"]).values()) == 1000.0


@pytest.mark.parametrize(
    ("op", "match"),
    [
        ("double tv", "cannot read operation"),
        ({"op": "scale", "channel": "tv", "pct": -150}, "negative"),
        ({"op": "shift", "from": "tv", "to": "tv", "pct": 5}, "itself"),
        ({"op": "set", "channel": "radio", "value": 5}, "unknown entity 'radio'"),
        ({"op": "scale", "channel": "tv"}, "needs a number 'pct'"),
    ],
)
def test_bad_operations_say_what_to_do(op, match) -> None:
    with pytest.raises(ConfigError, match=match):
        apply_operations(CURRENT, [op])


def test_predictions_equal_curve_evaluation_exactly() -> None:
    cs = _cs()
    curves = cs.curves()
    sc = build_scenario(cs, CURRENT, "shift", operations=["shift 20% from tv to social"])
    x = np.array([sc["allocation"][i] for i in curves.ids])
    assert x.tolist() == [400.0, 300.0, 300.0]
    r = curves.response(x)
    p = sc["predicted"]
    assert p["outcome"]["mean"] == r.sum()
    assert p["outcome"]["lo"] == p["outcome"]["hi"] == r.sum()
    assert p["iroas"]["mean"] == r.sum() / 1000.0
    assert p["profit"]["mean"] == r.sum() - 1000.0
    assert p["mroas"]["mean"] == pytest.approx((curves.marginal(x) * x).sum() / 1000.0, rel=1e-15)
    assert [e["outcome"] for e in p["entities"]] == r.tolist()
    base = curves.response(np.array([500.0, 300.0, 200.0])).sum()
    assert sc["change"]["outcome"]["mean"] == pytest.approx(r.sum() - base, rel=1e-12)
    # hand-evaluated families: the tv Hill and the social exponential
    assert p["entities"][0]["outcome"] == pytest.approx(500 * 400**0.8 / (400**0.8 + 400**0.8))
    assert p["entities"][2]["outcome"] == pytest.approx(250 * (1 - np.exp(-1.0)))


def test_allocation_and_budget_rescale() -> None:
    sc = build_scenario(_cs(), CURRENT, "all", allocation={"tv": 100.0}, budget=1200.0)
    a = sc["allocation"]
    assert sum(a.values()) == pytest.approx(1200.0)
    assert a["search"] / a["social"] == pytest.approx(1.5) and a["tv"] == pytest.approx(200.0)
    with pytest.raises(ConfigError, match="unknown entities"):
        build_scenario(_cs(), CURRENT, "x", allocation={"radio": 1.0})
    with pytest.raises(ConfigError, match="not both"):
        build_scenario(_cs(), CURRENT, "x", allocation={"tv": 1.0}, operations=["set tv to 2"])


def test_intervals_come_from_the_draws() -> None:
    cs = _cs(_draw_frame())
    curves = cs.curves()
    x = np.array([400.0, 300.0, 300.0])
    p = predict(curves, x, interval=0.8)
    tot = curves.response(x).sum(axis=1)
    assert p["outcome"]["mean"] == pytest.approx(tot.mean(), rel=1e-12)
    assert p["outcome"]["lo"] == pytest.approx(np.quantile(tot, 0.1))
    assert p["outcome"]["hi"] == pytest.approx(np.quantile(tot, 0.9))
    assert p["outcome"]["lo"] < p["outcome"]["mean"] < p["outcome"]["hi"]
    assert p["point"] == "posterior mean"
    sc = build_scenario(cs, CURRENT, "s", operations=["shift 10% from tv to search"])
    lo, hi = sc["change"]["outcome"]["lo"], sc["change"]["outcome"]["hi"]
    assert lo <= sc["change"]["outcome"]["mean"] <= hi


def test_recommendation_beats_current_and_is_certified() -> None:
    cs = _cs(_draw_frame(50))
    rec = recommend(cs, CURRENT)
    assert sum(rec["allocation"].values()) == pytest.approx(1000.0)
    assert rec["kkt_gap"] <= 1e-9
    assert rec["uplift"]["mean"] >= -1e-9
    assert rec["uplift"]["mean"] == pytest.approx(
        rec["predicted"]["outcome"]["mean"] - rec["baseline"]["outcome"]["mean"], rel=1e-9
    )
    assert rec["binding"] and "fully spent" in rec["binding"][0]


def test_compare_is_tidy_and_pivots() -> None:
    cs = _cs()
    a = build_scenario(cs, CURRENT, "as is")
    b = build_scenario(cs, CURRENT, "more social", operations=["scale social by 50%"])
    tidy = compare([{**a, "id": 1}, {**b, "id": 2}])
    assert list(tidy.columns) == ["scenario_id", "scenario", "entity", "metric", "mean", "lo", "hi"]
    assert not tidy.duplicated(["scenario_id", "entity", "metric"]).any()
    table = compare_table(tidy)
    assert table["scenario"].tolist() == ["as is", "more social"]
    assert table["spend"].tolist() == [1000.0, 1100.0]
    assert table.loc[1, "spend social"] == 300.0
    assert table.loc[0, "outcome_change"] == 0.0
    assert table.loc[1, "outcome"] == b["predicted"]["outcome"]["mean"]


def test_predict_refuses_bad_spend() -> None:
    curves = from_arrays(["a", "b"], "exponential", beta=[1, 2], scale=[1, 1])
    with pytest.raises(ConfigError, match=">= 0"):
        predict(curves, [1.0, -1.0])
    with pytest.raises(ConfigError, match="unknown entity"):
        predict(curves, {"c": 1.0})


def test_zero_spend_scenario_has_undefined_ratios_not_nan() -> None:
    sc = build_scenario(_cs(), CURRENT, "off", budget=0.0)
    p = sc["predicted"]
    assert p["spend"] == 0.0 and p["outcome"]["mean"] == 0.0
    assert p["iroas"]["mean"] is None and p["mroas"]["mean"] is None
    table = compare_table(compare([sc]))
    assert np.isnan(table.loc[0, "iroas"]) and table.loc[0, "profit"] == 0.0
