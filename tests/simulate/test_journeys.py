"""Journeys and experiments: the retargeting trap and known lifts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spendlab.simulate.journeys import sigmoid


def _eta(market):
    j = market.journeys
    eta = np.full(len(j.users), j.b0)
    for c in j.channels:
        eta += j.effects[c] * j.users[f"exposed_{c}"].to_numpy()
    return eta


def test_incremental_conversions_recompute_from_the_model(market):
    truth = market.truth["journeys"]
    j = market.journeys
    eta = _eta(market)
    np.testing.assert_allclose(j.users["p"], sigmoid(eta), rtol=1e-12)
    for c in j.channels:
        flag = j.users[f"exposed_{c}"].to_numpy()
        inc = (sigmoid(eta) - sigmoid(eta - j.effects[c] * flag)).sum()
        assert truth["channels"][c]["incremental_conversions"] == pytest.approx(inc, rel=1e-12)
        assert truth["channels"][c]["incremental_conversions"] > 0
    assert truth["expected_conversions"] == pytest.approx(sigmoid(eta).sum())
    assert truth["realized_conversions"] == len(market.frames["conversions"])


def test_retargeting_has_zero_effect_but_wins_last_touch(market):
    rt = market.truth["journeys"]["channels"]["retargeting"]
    assert rt["effect"] == 0.0
    assert rt["incremental_conversions"] == 0.0
    assert rt["last_touch_share"] > 0.4
    others = [v["last_touch_share"] for k, v in market.truth["journeys"]["channels"].items()
              if k != "retargeting"]  # fmt: skip
    assert rt["last_touch_share"] > max(others)
    # and retargeting touches converters far more often than non-converters
    tp = market.frames["touchpoints"]
    rt_users = set(tp.loc[tp["channel"] == "retargeting", "user_id"])
    users = market.journeys.users
    conv = users["converted"].to_numpy()
    shown = users["user_id"].isin(rt_users).to_numpy()
    assert shown[conv].mean() > 5 * shown[~conv].mean()
    # its true MMM contribution is zero too
    assert market.truth["channels"]["retargeting"]["contribution"] == 0.0


def test_last_touch_counts_from_the_data(market):
    tp = market.frames["touchpoints"]
    conv = market.frames["conversions"]
    merged = tp.merge(conv[["user_id", "timestamp"]].rename(columns={"timestamp": "ct"}),
                      on="user_id")  # fmt: skip
    merged = merged[merged["timestamp"] <= merged["ct"]].sort_values(["user_id", "timestamp"])
    last = merged.groupby("user_id")["channel"].last().value_counts()
    for c, v in market.truth["journeys"]["channels"].items():
        assert v["last_touch_conversions"] == last.get(c, 0)


def test_touchpoints_name_real_campaigns(market):
    tp = market.frames["touchpoints"]
    names = set(market.catalog.table["campaign_name"])
    assert set(tp["campaign"]) <= names
    assert set(tp["channel"]) == {"paid_search", "paid_social", "retargeting"}
    assert (tp["interaction_type"] == "click").all()
    assert not tp.duplicated(["user_id", "timestamp", "channel", "campaign",
                              "interaction_type"]).any()  # fmt: skip


def test_holdout_truth_matches_the_model(market):
    exp = next(e for e in market.truth["experiments"] if e["kind"] == "holdout")
    users = market.journeys.users
    test = (users["group"] == "test").to_numpy()
    ctrl = (users["group"] == "control").to_numpy()
    assert exp["test_users"] == test.sum() and exp["control_users"] == ctrl.sum()
    eta = _eta(market)
    ch = exp["channel"]
    flag = users[f"exposed_{ch}"].to_numpy()
    inc = (sigmoid(eta) - sigmoid(eta - market.journeys.effects[ch] * flag))[test].sum()
    assert exp["true_incremental"] == pytest.approx(inc, rel=1e-9)
    assert not flag[ctrl].any()  # control users never saw the channel (ghost ads)
    conv = users["converted"].to_numpy()
    measured = (conv[test].mean() - conv[ctrl].mean()) * test.sum()
    assert exp["measured_incremental"] == pytest.approx(measured)
    assert abs(exp["measured_incremental"] - exp["true_incremental"]) < 4 * exp["standard_error"]


@pytest.mark.parametrize("which", ["market", "geo_market"])
def test_geo_test_truth_matches_the_model(which, request):
    m = request.getfixturevalue(which)
    exp = next(e for e in m.truth["experiments"] if e["kind"] == "geo_test")
    tab = m.catalog.table
    mask = ((tab["spec"] == exp["channel"]) & tab["country"].isin(exp["geos"])).to_numpy()
    lo, hi = exp["start_day"], exp["end_day"]
    # undo the boost: spend outside the spend-change window is unchanged, inside it is 1+lift
    change_end = (pd.Timestamp(exp["spend_change_end"]) - m.dates[0]).days + 1
    base = m.spend[mask].copy()
    base[:, lo:change_end] = np.round(base[:, lo:change_end] / (1 + exp["spend_lift"]), 2)
    cf = m.catalog.params.subset(mask).contribution(base)
    true = (m.contributions[mask][:, lo:hi] - cf[:, lo:hi]).sum()
    assert exp["true_incremental"] == pytest.approx(true, rel=1e-3)
    assert exp["incremental_spend"] == pytest.approx(
        (m.spend[mask] - base).sum(), rel=1e-3, abs=1.0
    )
    assert exp["true_iroas"] > 0
    assert abs(exp["measured_incremental"] - exp["true_incremental"]) < 5 * exp["standard_error"]
    assert exp["synthetic_geos"] is (m.config.geos == 1)


def test_a_users_touches_are_at_least_a_second_apart(market):
    """Two touches of one user in the same second would read back from GA4 as one session's
    source twice (a duplicate-key rejection found by `spendlab demo --days 120 --campaigns 40`)."""
    tp = market.frames["touchpoints"]
    gaps = tp.groupby("user_id")["timestamp"].diff().dropna()
    assert (gaps >= pd.Timedelta(seconds=1)).all()
    assert not tp.duplicated(["user_id", "timestamp"]).any()
