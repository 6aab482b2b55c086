"""Lift-test calibration on a confounded scenario: spend follows an unobserved demand shock."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spendlab.measure.mmm import MMM, LiftTest, MMMConfig


def confounded(seed: int = 0, weeks: int = 130):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-03", periods=weeks, freq="7D")
    demand = np.cumsum(rng.normal(0, 0.04, weeks))  # unobserved by the model
    demand -= demand.mean()
    spend = 100.0 * np.exp(2.5 * demand) * rng.lognormal(0, 0.15, weeks)
    w = 0.4 ** np.arange(8)
    w /= w.sum()
    ad = np.convolve(spend, w)[:weeks]
    contrib = 500.0 * ad / (ad + 120.0)
    y = 1000.0 * np.exp(demand) + contrib + rng.normal(0, 10.0, weeks)
    df = pd.DataFrame({"date": dates, "sales": y, "search": spend})
    truth = contrib.sum() / spend.sum()
    lifts = []
    for start in (20, 70, 110):  # three 6-week tests, measured with a 5% standard error
        window = slice(start, start + 6)
        inc = contrib[window].sum()
        measured = float(inc * (1 + 0.05 * rng.standard_normal()))
        first, last = str(dates[start].date()), str(dates[start + 5].date())
        lifts.append(LiftTest("search", first, last, measured, 0.05 * inc))
    return df, truth, tuple(lifts)


@pytest.mark.slow
def test_lift_tests_halve_the_iroas_error():
    df, truth, lifts = confounded()
    base = dict(date="date", target="sales", channels=("search",), fast=True, draws=200,
                trend=False, yearly_order=1)  # fmt: skip
    plain = MMM(MMMConfig(**base)).fit(df).summary()["iroas_mean"].iloc[0]
    calib = MMM(MMMConfig(**base, lift_tests=lifts)).fit(df).summary()["iroas_mean"].iloc[0]
    err_plain, err_calib = abs(plain / truth - 1), abs(calib / truth - 1)
    assert err_calib <= 0.5 * err_plain, (truth, plain, calib)
