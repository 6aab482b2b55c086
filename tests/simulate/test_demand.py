"""Unobserved demand shocks (``SimConfig.demand_shocks``) and lift tests measured on the simulator
(``spendlab.simulate.weekly.lift_tests``): the confounder an MMM cannot see, and the experiments
that calibrate it away."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from spendlab.errors import ConfigError
from spendlab.simulate import SimConfig, simulate
from spendlab.simulate.market import demand_path
from spendlab.simulate.weekly import lift_tests, mmm_weekly

from .conftest import SMALL

SHOCKED = SimConfig(seed=7, days=400, campaigns=12, users=50, customers=20, confounding=0.8,
                    demand_shocks=0.3)  # fmt: skip


@pytest.fixture(scope="module")
def shocked():
    return simulate(SHOCKED)


@pytest.fixture(scope="module")
def calm():
    return simulate(dataclasses.replace(SHOCKED, demand_shocks=0.0))


def test_no_demand_shocks_leaves_the_market_unchanged(market):
    """``demand_shocks=0`` (the default) is the market from before the field existed: these totals
    were recorded on that code, for SMALL (tests/simulate/conftest.py)."""
    assert SMALL.demand_shocks == 0.0
    t = market.truth["totals"]
    recorded = {"revenue": 3789434.500863919, "spend": 656224.19, "media": 1176165.520139039,
                "baseline": 2611250.80266556, "noise": 6051.8723925686045,
                "controls": -4033.694333248597}  # fmt: skip
    for k, v in recorded.items():
        assert t[k] == pytest.approx(v, rel=1e-12, abs=1e-9), k
    assert market.outcome.revenue[0, 17] == pytest.approx(32514.661814298015, rel=1e-12)
    # bit for bit: no demand path, a zero demand component, the same spend driver
    assert market.shape.demand is None
    assert not market.outcome.demand.any() and t["demand"] == 0.0
    s = market.shape
    np.testing.assert_array_equal(s.season_index, s.yearly + s.holidays)
    o = market.outcome
    np.testing.assert_array_equal(o.baseline, o.trend + o.seasonality + o.holidays)
    assert "demand" not in market.truth["baseline"]


def test_demand_shocks_change_only_baseline_and_spend(shocked, calm):
    # other streams are untouched: campaigns, controls, noise (whose size follows the baseline
    # level, which follows the media mean by design: media_share)
    np.testing.assert_array_equal(shocked.catalog.params.beta, calm.catalog.params.beta)
    a, b = shocked.outcome, calm.outcome
    np.testing.assert_allclose(a.noise / a.level[:, None], b.noise / b.level[:, None], rtol=1e-12)
    for k in ("price", "promotion", "macro_index"):
        np.testing.assert_array_equal(
            shocked.outcome.control_values[k], calm.outcome.control_values[k]
        )
    np.testing.assert_array_equal(shocked.shape.yearly, calm.shape.yearly)
    # without confounding spend ignores demand entirely
    no_conf = dataclasses.replace(SHOCKED, confounding=0.0)
    np.testing.assert_array_equal(
        simulate(no_conf).spend, simulate(no_conf, demand_shocks=0.0).spend
    )


def test_spend_follows_the_unobserved_demand(shocked, calm):
    """With confounding k the spend driver is ``max(0.1, 1 + 1.5 k (season + exp(d) - 1))``:
    the ratio of the two markets' spend is the ratio of the drivers (up to cent rounding)."""
    k, s = SHOCKED.confounding, calm.shape
    d = shocked.shape.demand
    drv = np.maximum(0.1, 1 + 1.5 * k * (s.yearly + s.holidays + np.expm1(d)))
    drv0 = np.maximum(0.1, 1 + 1.5 * k * (s.yearly + s.holidays))
    big = calm.spend > 20.0
    ratio = shocked.spend[big] / calm.spend[big]
    expect = np.broadcast_to(drv / drv0, calm.spend.shape)[big]
    np.testing.assert_allclose(ratio, expect, rtol=1e-3)
    total = shocked.spend.sum(axis=0) / np.maximum(calm.spend.sum(axis=0), 1.0)
    assert np.corrcoef(total, d)[0, 1] > 0.9


def test_demand_component_keeps_the_identity_and_is_in_the_truth(shocked):
    o, d = shocked.outcome, shocked.shape.demand
    np.testing.assert_allclose(o.demand, (o.trend + o.seasonality + o.holidays) * np.expm1(d),
                               rtol=1e-12)  # fmt: skip
    c = shocked.components()
    base = c["trend"] + c["seasonality"] + c["holidays"] + c["demand"]
    np.testing.assert_allclose(c["baseline"], base, rtol=1e-12, atol=1e-9)
    total = c["baseline"] + c["controls"] + c["media"] + c["noise"]
    np.testing.assert_allclose(c["revenue"], total, rtol=1e-12, atol=1e-9)
    assert np.abs(c["demand"]).max() > 0.05 * c["baseline"].mean()
    t = shocked.truth
    assert t["totals"]["demand"] == pytest.approx(float(c["demand"].sum()), rel=1e-9)
    assert t["baseline"]["demand"]["shocks_sd_per_year"] == 0.3
    assert t["demand_shocks"] == 0.3 and "demand" in t["identity"]
    # weekly components still add up
    w = shocked.weekly()["components"]
    np.testing.assert_allclose(w["revenue"], w["baseline"] + w["controls"] + w["media"]
                               + w["noise"])  # fmt: skip


def test_demand_path_scale_and_shape():
    """Mean 0 over the period, smooth (a 28-day moving average of a random walk), and its change
    over a year has standard deviation ``demand_shocks`` (pooled over seeds)."""
    changes = []
    for seed in range(300):
        d = demand_path(SimConfig(seed=seed, days=730, demand_shocks=0.2))
        assert abs(d.mean()) < 1e-12
        changes.append(d[365::73] - d[:365:73])
    sd = float(np.std(np.concatenate(changes)))
    assert sd == pytest.approx(0.2, rel=0.1)
    # smooth: a day's step is tiny next to a year's change
    d = demand_path(SimConfig(seed=1, days=730, demand_shocks=0.2))
    assert np.abs(np.diff(d)).max() < 0.2 / np.sqrt(365) * 2
    assert demand_path(SimConfig(days=730)) is None


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_demand_shocks_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="demand_shocks"):
        SimConfig(demand_shocks=bad)


def test_lift_tests_measure_the_true_window_contribution(shocked):
    chan = shocked.catalog.table["channel"].to_numpy()
    ch = "paid_search"
    windows = [("2024-02-05", "2024-03-17"), ("2024-06-03", "2024-07-14")]
    exact = lift_tests(shocked, ch, windows, se_rel=1e-9, seed=0)
    daily = shocked.contributions[chan == ch].sum(axis=0)
    for lt, (a, b) in zip(exact, windows, strict=True):
        inside = (shocked.dates >= a) & (shocked.dates <= b)
        assert inside.sum() == 42
        assert lt["incremental"] == pytest.approx(daily[inside].sum(), rel=1e-7)
        assert (lt["channel"], lt["start"], lt["end"]) == (ch, a, b)
    # the weekly frame's truth over the same weeks is the same quantity
    df, _ = mmm_weekly(shocked)
    all_weeks = [(str(df["date"].iloc[0].date()),
                  str((df["date"].iloc[-1] + pd.Timedelta(days=6)).date()))]  # fmt: skip
    whole = lift_tests(shocked, ch, all_weeks, se_rel=1e-9)[0]["incremental"]
    _, truth = mmm_weekly(shocked)
    assert whole == pytest.approx(truth[ch]["contribution"], rel=1e-7)
    # measured with noise: se = se_rel x truth, errors of the stated size, reproducible by seed
    noisy = [lift_tests(shocked, ch, windows, se_rel=0.07, seed=s) for s in range(200)]
    z = np.array([(lt["incremental"] - e["incremental"]) / lt["standard_error"]
                  for run in noisy for lt, e in zip(run, exact, strict=True)])  # fmt: skip
    assert abs(z.mean()) < 0.15 and 0.85 < z.std() < 1.15
    assert noisy[3] == lift_tests(shocked, ch, windows, se_rel=0.07, seed=3)
    for lt, e in zip(noisy[0], exact, strict=True):
        assert lt["standard_error"] == pytest.approx(0.07 * e["incremental"], rel=1e-7)
    assert set(noisy[0][0]) == {"channel", "start", "end", "incremental", "standard_error"}


def test_lift_tests_bad_input(shocked):
    with pytest.raises(ConfigError, match="no campaigns of channel 'tv'"):
        lift_tests(shocked, "tv", [("2024-02-05", "2024-03-17")])
    with pytest.raises(ConfigError, match="outside the market"):
        lift_tests(shocked, "paid_search", [("2030-01-01", "2030-02-01")])
    with pytest.raises(ConfigError, match="se_rel"):
        lift_tests(shocked, "paid_search", [("2024-02-05", "2024-03-17")], se_rel=0.0)
