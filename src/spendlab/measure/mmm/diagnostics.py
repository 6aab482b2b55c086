"""Convergence and fit diagnostics, and the model-health card (PASS / REVIEW / FAIL per check)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def convergence(samples: dict[str, np.ndarray], divergences: int, method: str) -> dict:
    """R-hat, bulk and tail ESS over every latent parameter (samples shaped (chains, draws, ...)).

    Fast mode draws independent samples from a Laplace approximation: R-hat is not defined (None)
    and the ESS is the number of draws."""
    if method != "nuts":
        n = next(iter(samples.values())).shape[1]
        return {"rhat_max": None, "ess_bulk_min": float(n), "ess_tail_min": float(n),
                "divergences": 0, "method": method}  # fmt: skip
    import arviz as az

    post = {k: v for k, v in samples.items() if k != "beta"}
    idata = az.from_dict(posterior=post)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(idata)
        bulk = az.ess(idata, method="bulk")
        tail = az.ess(idata, method="tail")

    def extreme(ds, fn) -> float:
        vals = [np.asarray(ds[v]).ravel() for v in ds.data_vars]
        arr = np.concatenate(vals) if vals else np.array([np.nan])
        return float(fn(arr[np.isfinite(arr)])) if np.isfinite(arr).any() else float("nan")

    return {
        "rhat_max": extreme(rhat, np.max),
        "ess_bulk_min": extreme(bulk, np.min),
        "ess_tail_min": extreme(tail, np.min),
        "divergences": int(divergences),
        "method": method,
    }


def crps(draws: np.ndarray, y: np.ndarray) -> float:
    """Mean CRPS of predictive draws ``(S, T)`` against ``y`` (T,): E|X-y| - 0.5 E|X-X'|."""
    term1 = np.abs(draws - y[None]).mean(axis=0)
    srt = np.sort(draws, axis=0)
    s = srt.shape[0]
    i = np.arange(1, s + 1)[:, None]
    term2 = (2.0 * ((2 * i - s - 1) * srt).sum(axis=0) / (s * s)) / 2.0
    return float((term1 - term2).mean())


def fit_metrics(pred_draws: np.ndarray, y: np.ndarray) -> dict:
    """MAPE (of the mean prediction), R², CRPS of predictive draws ``(S, T)`` vs ``y``."""
    if y.size == 0:
        return {"mape": None, "r2": None, "crps": None}
    mean = pred_draws.mean(axis=0)
    nz = y != 0
    mape = float(np.mean(np.abs((y[nz] - mean[nz]) / y[nz]))) if nz.any() else None
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - mean) ** 2).sum()) / ss if ss > 0 else None
    return {"mape": mape, "r2": r2, "crps": crps(pred_draws, y)}


def health_card(diag: dict, fit: dict, holdout: dict, baseline_min: float) -> pd.DataFrame:
    """One row per check: ``check``, ``status`` (PASS / REVIEW / FAIL), ``value``, ``advice``."""
    rows = []

    def add(check, status, value, advice):
        rows.append({"check": check, "status": status, "value": value, "advice": advice})

    rhat = diag.get("rhat_max")
    if rhat is None:
        add("rhat", "REVIEW", None, "fast mode has no R-hat: refit without --fast before deciding")
    else:
        st = "PASS" if rhat <= 1.01 else ("REVIEW" if rhat <= 1.05 else "FAIL")
        add("rhat", st, rhat, "ok" if st == "PASS" else "run more warmup/draws or more chains")
    ess = diag.get("ess_bulk_min", 0.0)
    st = "PASS" if ess >= 400 else ("REVIEW" if ess >= 100 else "FAIL")
    add("ess_bulk", st, ess, "ok" if st == "PASS" else "increase --draws (aim for ESS >= 400)")
    div = diag.get("divergences", 0)
    st = "PASS" if div == 0 else ("REVIEW" if div <= 5 else "FAIL")
    add("divergences", st, div,
        "ok" if div == 0 else "raise target_accept or simplify")  # fmt: skip
    r2 = fit.get("r2")
    st = "PASS" if r2 is not None and r2 >= 0.8 else ("REVIEW" if r2 and r2 >= 0.5 else "FAIL")
    add("in_sample_r2", st, r2,
        "ok" if st == "PASS" else "add controls/events that explain the outcome")  # fmt: skip
    mape = holdout.get("mape")
    if mape is None:
        add(
            "holdout_mape",
            "REVIEW",
            None,
            "set holdout (e.g. 8 periods) to score out-of-sample fit",
        )
    else:
        st = "PASS" if mape <= 0.1 else ("REVIEW" if mape <= 0.2 else "FAIL")
        add("holdout_mape", st, mape,
            "ok" if st == "PASS" else "poor forecast: check trend/events")  # fmt: skip
    st = "PASS" if baseline_min >= 0 else "FAIL"
    add("baseline_non_negative", st, baseline_min,
        "ok" if st == "PASS" else "use nonneg_baseline=True or add missing controls")  # fmt: skip
    return pd.DataFrame(rows)
