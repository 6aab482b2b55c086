"""The simulator's zero-effect retargeting trap: exposed by the comparison, fixed by calibration;
money (CPA, ROAS) under each model."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from spendlab.errors import ConfigError
from spendlab.measure.attribution import build_paths, compare_models, make_model
from spendlab.measure.attribution.calibration import BASELINE, calibrate, channel_spend, money
from spendlab.simulate import SimConfig, simulate


@pytest.fixture(scope="module")
def market():
    m = simulate(SimConfig(seed=1, users=8000, days=120, campaigns=20))
    tp, cv = (ibis.memtable(m.frames[k]) for k in ("touchpoints", "conversions"))
    paths = build_paths((tp, cv))
    spend = channel_spend((ibis.memtable(m.frames["ad_performance"]), tp))
    return m, paths, spend


def test_comparison_report_exposes_the_retargeting_trap(market):
    m, paths, _ = market
    truth = m.truth["journeys"]["channels"]
    assert truth["retargeting"]["incremental_conversions"] == 0
    report = compare_models(paths, models=("last_touch", "linear", "markov", "position"))
    rt = report[report.channel == "retargeting"].set_index("model")
    # our last touch reproduces the simulator's own last-touch count (touched conversions)
    assert rt.loc["last_touch", "conversions"] == truth["retargeting"]["last_touch_conversions"]
    # every path-based model credits the zero-effect channel with a large share
    assert (rt["share"] > 0.25).all()
    assert rt.loc["last_touch", "share"] > 0.5
    assert (rt.loc[["linear", "markov", "position"], "vs_last_touch"] < 0).all()


def test_calibration_moves_zero_effect_credit_to_baseline(market):
    m, paths, spend = market
    truth = m.truth["journeys"]["channels"]
    sp = dict(zip(spend.channel, spend.spend, strict=True))
    for name in ("last_touch", "markov", "linear", "data_driven"):
        credits = make_model(name).fit(paths).credits_
        cal = calibrate(credits, iroas={"retargeting": 0.0}, spend=sp).set_index("channel")
        assert cal.loc["retargeting", "conversions"] == 0
        assert cal.loc[BASELINE, "conversions"] == pytest.approx(
            credits.set_index("channel").loc["retargeting", "conversions"]
        )
        assert cal["conversions"].sum() == pytest.approx(paths.total_conversions)
        assert cal["value"].sum() == pytest.approx(paths.total_value)
    # with lift-test numbers for every channel the calibrated credits are the incremental ones
    lift = {c: truth[c]["incremental_conversions"] for c in ("paid_search", "paid_social")}
    credits = make_model("markov").fit(paths).credits_
    cal = calibrate(credits, incremental_conversions=lift | {"retargeting": 0.0}).set_index(
        "channel"
    )
    for c, inc in lift.items():
        assert cal.loc[c, "conversions"] == pytest.approx(
            min(inc, credits.set_index("channel").loc[c, "conversions"])
        )


def test_calibration_validates_inputs():
    credits = pd.DataFrame({"channel": ["a"], "conversions": [1.0], "value": [2.0], "share": [1.0]})
    with pytest.raises(ConfigError, match="not in the credits"):
        calibrate(credits, incremental_conversions={"b": 1.0})
    with pytest.raises(ConfigError, match="needs spend"):
        calibrate(credits, iroas={"a": 1.0})


def test_money_uses_spend_from_the_warehouse(market):
    m, paths, spend = market
    truth_spend: dict[str, float] = {}
    for v in m.truth["channels"].values():
        truth_spend[v["channel"]] = truth_spend.get(v["channel"], 0.0) + v["spend"]
    sp = spend.set_index("channel")["spend"]
    for c in sp.index:
        assert sp[c] == pytest.approx(truth_spend[c], rel=1e-6)
    model = make_model("linear").fit(paths)
    model.bootstrap(100, seed=2)
    out = money(model.credits_, spend).set_index("channel")
    assert np.allclose(out["cpa"], out["spend"] / out["conversions"])
    assert np.allclose(out["roas"], out["value"] / out["spend"])
    assert (out["cpa_lo"] <= out["cpa"]).all() and (out["cpa"] <= out["cpa_hi"]).all()
    assert (out["roas_lo"] <= out["roas"]).all() and (out["roas"] <= out["roas_hi"]).all()
