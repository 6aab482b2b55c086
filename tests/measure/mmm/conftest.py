"""Shared fixtures: a weekly data set drawn from the model's own family with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_weekly(seed: int = 0, weeks: int = 156) -> tuple[pd.DataFrame, dict[str, float]]:
    """Two channels with geometric adstock + Hill saturation, a trend, yearly seasonality and a
    price control; returns the data and each channel's true iROAS over the period."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-03", periods=weeks, freq="7D")
    t = np.arange(weeks)
    season = 0.15 * np.sin(2 * np.pi * t / 52.18)
    price = 1 + 0.05 * rng.standard_normal(weeks)
    base = 1000.0 * (1 + 0.1 * t / weeks) * np.exp(season)
    truth, media = {}, np.zeros(weeks)
    cols = {}
    for name, level, alpha, half, s, beta in (("search", 100.0, 0.3, 90.0, 1.2, 600.0),
                                              ("social", 60.0, 0.6, 70.0, 1.0, 300.0)):  # fmt: skip
        spend = level * rng.lognormal(0, 0.45, weeks) * (rng.random(weeks) > 0.1)
        w = alpha ** np.arange(8)
        w /= w.sum()
        ad = np.convolve(spend, w)[:weeks]
        contrib = beta * ad**s / (ad**s + half**s)
        truth[name] = contrib.sum() / spend.sum()
        media += contrib
        cols[name] = spend
    y = base - 400.0 * (price - 1) + media + rng.normal(0, 15.0, weeks)
    return pd.DataFrame({"date": dates, "sales": y, **cols, "price": price}), truth


@pytest.fixture(scope="session")
def weekly():
    return make_weekly(0)


@pytest.fixture(scope="session")
def fast_fit(weekly):
    from spendlab.measure.mmm import MMM, MMMConfig

    df, truth = weekly
    cfg = MMMConfig(date="date", target="sales", channels=("search", "social"),
                    controls=("price",), fast=True, holdout=8, draws=300)  # fmt: skip
    return MMM(cfg).fit(df), df, truth
