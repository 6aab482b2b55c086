"""Batched per-campaign MAP fits recover per-campaign iROAS on data from the same family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spendlab.errors import DataError
from spendlab.measure.mmm.batch import fit_campaigns


def make_campaigns(n: int = 40, days: int = 365, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    dates = pd.date_range("2024-01-01", periods=days)
    for c in range(n):
        base = rng.uniform(50, 500)
        x = base * rng.lognormal(0, 0.5, days) * (rng.random(days) > 0.15)
        alpha, half, s = rng.uniform(0.1, 0.6), base * rng.uniform(0.6, 2.0), rng.uniform(0.8, 2)
        w = alpha ** np.arange(14)
        w /= w.sum()
        ad = np.convolve(x, w)[:days]
        beta = base * rng.uniform(1.5, 4.0)
        contrib = beta * ad**s / (ad**s + half**s)
        y = 0.5 * beta + contrib + rng.normal(0, 0.05 * beta, days)
        truth[f"c{c}"] = contrib.sum() / x.sum()
        rows.append(pd.DataFrame({"date": dates, "campaign_id": f"c{c}", "spend": x,
                                  "revenue": y}))  # fmt: skip
    return pd.concat(rows, ignore_index=True), truth


def test_batch_recovers_iroas():
    df, truth = make_campaigns()
    out = fit_campaigns(df).set_index("campaign")
    err = np.array([abs(out.loc[c, "iroas"] / t - 1) for c, t in truth.items()])
    assert np.median(err) < 0.1, np.sort(err)
    # the planner's parameterization reproduces the reported contribution at steady state
    r = out.iloc[0]
    x = r["half"]
    assert r["beta"] * x ** r["s"] / (x ** r["s"] + r["half"] ** r["s"]) == pytest.approx(
        r["beta"] / 2
    )
    assert set(out.columns) >= {"type", "beta", "half", "s", "alpha", "iroas"}


def test_batch_rejects_campaign_without_spend():
    df, _ = make_campaigns(n=2, days=60)
    df.loc[df["campaign_id"] == "c1", "spend"] = 0.0
    with pytest.raises(DataError, match="no spend"):
        fit_campaigns(df)
