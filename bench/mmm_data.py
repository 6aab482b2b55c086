"""PyMC-Marketing's example data set (179 weeks, 2 channels), regenerated with known truth.

Recipe: the "MMM Example Notebook" of PyMC-Marketing
(https://www.pymc-marketing.io/en/stable/notebooks/mmm/mmm_example.html, part I "Data Generation
Process"; the data ship as ``data/mmm_example.csv`` in github.com/pymc-labs/pymc-marketing). Written
from that description with the same parameters (not a copy of its code):

- weeks: Mondays from 2018-04-01 to 2021-09-01 (179 weeks); generator ``default_rng(sum(ord) of
  "mmm")``;
- spend: ``x1 ~ U(0, 1)``, halved unless above 0.9; ``x2 ~ U(0, 1)``, zero unless above 0.8;
- geometric adstock (8 weeks, normalised weights) with ``alpha = 0.4`` (x1) and ``0.2`` (x2);
- logistic saturation ``(1 - e^{-lam x}) / (1 + e^{-lam x})`` with ``lam = 4`` (x1) and ``3`` (x2);
- ``y = 2 + trend + seasonality + 1.5 event_1 + 2.5 event_2 + 3 sat(x1) + 2 sat(x2) + eps``,
  ``trend = (linspace(0, 50) + 10)^(1/4) - 1``,
  ``seasonality = 0.5 (-sin(4 pi doy / 365.5) + cos(2 pi doy / 365.5))``, events on 2019-05-13 and
  2020-09-14, ``eps ~ N(0, 0.25)``.

The truth per channel is its contribution (``beta * sat``) over the data, and the iROAS
(contribution / spend).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _geometric(x: np.ndarray, alpha: float, lags: int = 8) -> np.ndarray:
    w = alpha ** np.arange(lags)
    w = w / w.sum()
    return np.convolve(x, w)[: x.size]


def _logistic(x: np.ndarray, lam: float) -> np.ndarray:
    return (1 - np.exp(-lam * x)) / (1 + np.exp(-lam * x))


def pymc_example(seed: int | None = None) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """The data (``date_week``, ``y``, ``x1``, ``x2``, ``event_1``, ``event_2``, ``t``) and the
    truth ``{channel: {spend, contribution, iroas}}``. ``seed=None``: the notebook's seed."""
    rng = np.random.default_rng(sum(map(ord, "mmm")) if seed is None else seed)
    dates = pd.date_range("2018-04-01", "2021-09-01", freq="W-MON")
    n = len(dates)
    doy = dates.dayofyear.to_numpy()
    x1 = rng.uniform(0.0, 1.0, n)
    x1 = np.where(x1 > 0.9, x1, x1 / 2)
    x2 = rng.uniform(0.0, 1.0, n)
    x2 = np.where(x2 > 0.8, x2, 0.0)
    c1 = 3.0 * _logistic(_geometric(x1, 0.4), 4.0)
    c2 = 2.0 * _logistic(_geometric(x2, 0.2), 3.0)
    trend = (np.linspace(0.0, 50.0, n) + 10) ** 0.25 - 1
    season = 0.5 * (-np.sin(2 * 2 * np.pi * doy / 365.5) + np.cos(2 * np.pi * doy / 365.5))
    e1 = (dates == "2019-05-13").astype(float)
    e2 = (dates == "2020-09-14").astype(float)
    eps = rng.normal(0.0, 0.25, n)
    y = 2.0 + trend + season + 1.5 * e1 + 2.5 * e2 + c1 + c2 + eps
    df = pd.DataFrame({"date_week": dates, "y": y, "x1": x1, "x2": x2, "event_1": e1,
                       "event_2": e2, "t": np.arange(n, dtype=float)})  # fmt: skip
    truth = {
        ch: {
            "spend": float(x.sum()),
            "contribution": float(c.sum()),
            "iroas": float(c.sum() / x.sum()),
        }
        for ch, x, c in (("x1", x1, c1), ("x2", x2, c2))
    }
    return df, truth
