"""What a spend plan brings, from a fitted model: per channel response, iROAS and mROAS at a
spend per period (steady state, from ``response_curve_params()``), and the expected outcome of
the period once the plan's carry-over has built up (``predict()``), each with its interval.

Only the estimator's public API is used, so any fitted ``MMM`` (fresh or reloaded) works.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spendlab.errors import ConfigError, DataError

MROAS_STEP = 0.01


def _curve(p: pd.DataFrame, x: float) -> np.ndarray:
    """Response per period of every draw at spend ``x`` per period."""
    beta = p["beta"].to_numpy()
    if (p["type"] == "logistic").all():
        e = np.exp(-p["lam"].to_numpy() * x)
        return beta * (1 - e) / (1 + e)
    s, half = p["s"].to_numpy(), p["half"].to_numpy()
    return beta * x**s / (x**s + half**s) if x > 0 else np.zeros_like(beta)


def _band(draws: np.ndarray, interval: float) -> dict[str, float]:
    q = (1 - interval) / 2
    return {"mean": float(draws.mean()), "lo": float(np.quantile(draws, q)),
            "hi": float(np.quantile(draws, 1 - q))}  # fmt: skip


def predict_roi(model: Any, spend: dict[str, float]) -> dict[str, Any]:
    """``spend`` maps channels to spend per period (the model's period, data currency); channels
    left out keep their average spend per period over the fitting data."""
    cfg = model.config
    unknown = sorted(set(spend) - set(cfg.channels))
    if unknown:
        raise ConfigError(
            f"channel(s) {unknown} are not in this model; its channels are {list(cfg.channels)}"
        )
    bad = {k: v for k, v in spend.items() if not (np.isfinite(v) and v >= 0)}
    if bad:
        raise DataError(f"spend must be a non-negative number per channel; got {bad}")
    n_train = len(_periods(model)) - int(cfg.holdout)  # geo data: one row per (date, geo)
    totals = model.summary().set_index("channel")["spend"]
    plan = {ch: float(spend.get(ch, totals[ch] / n_train)) for ch in cfg.channels}
    params = model.response_curve_params()
    channels, media = {}, 0.0
    for ch in cfg.channels:
        p, x = params[params["channel"] == ch], plan[ch]
        r = _curve(p, x)
        media = media + r
        row = {"spend": x, "spend_from": "plan" if ch in spend else "average",
               "response": _band(r, cfg.interval), "iroas": None, "mroas": None}  # fmt: skip
        if x > 0:
            row["iroas"] = _band(r / x, cfg.interval)
            row["mroas"] = _band((_curve(p, x * (1 + MROAS_STEP)) - r) / (x * MROAS_STEP),
                                 cfg.interval)  # fmt: skip
        channels[ch] = row
    out = _outcome(model, plan)
    return {
        "target": cfg.target,
        "interval": cfg.interval,
        "period_days": out["period_days"],
        "channels": channels,
        "media_response": _band(np.asarray(media), cfg.interval),
        "outcome": out["outcome"],
        "outcome_date": out["date"],
        "note": "spend and response are per period at steady state; the outcome is the expected "
        "total of the period dated outcome_date, once the plan has run long enough for its "
        "carry-over to build up (controls at their last values)",
    }


def _periods(model: Any) -> pd.DatetimeIndex:
    """The model's distinct periods, in order (geo data repeat each date once per geo)."""
    return pd.DatetimeIndex(sorted(pd.to_datetime(model.data_[model.config.date]).unique()))


def _outcome(model: Any, plan: dict[str, float]) -> dict[str, Any]:
    cfg = model.config
    data = model.data_
    dates = _periods(model)
    step = int(round((dates[-1] - dates[0]).days / max(len(dates) - 1, 1)))
    lags = int(model.adstock()["lag"].max()) + 1  # after this many periods: steady state
    future = pd.DataFrame({cfg.date: pd.date_range(dates[-1] + pd.Timedelta(days=step),
                                                   periods=lags, freq=f"{step}D")})  # fmt: skip
    for ch in cfg.channels:
        future[ch] = plan[ch]
    for c in cfg.controls:
        future[c] = float(data[c].iloc[-1])
    for e in cfg.events:
        future[e] = 0.0
    last = model.predict(future).iloc[-1]
    return {
        "period_days": step,
        "date": last["date"].date().isoformat(),
        "outcome": {"mean": float(last["mean"]), "lo": float(last["lo"]), "hi": float(last["hi"])},
    }
