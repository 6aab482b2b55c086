"""Convergence and fit diagnostics, and the model-health card (PASS / REVIEW / FAIL per check)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from numpyro.diagnostics import effective_sample_size, gelman_rubin
from scipy.special import ndtri
from scipy.stats import rankdata


def _split(x: np.ndarray) -> np.ndarray:
    """(chains, draws) -> (2 chains, draws // 2): each chain's halves count as chains."""
    h = x.shape[1] // 2
    return np.concatenate([x[:, :h], x[:, x.shape[1] - h :]], axis=0)


def _rank_normal(x: np.ndarray) -> np.ndarray:
    r = rankdata(x, axis=None).reshape(x.shape)
    return ndtri((r - 0.375) / (x.size + 0.25))


def _ess(x: np.ndarray) -> float:
    if np.ptp(x) == 0:
        return float(x.size)
    return float(effective_sample_size(x))


def rhat_ess(x: np.ndarray) -> tuple[float, float, float]:
    """Rank-normalised split R-hat (max of bulk and folded), bulk ESS and tail ESS (the smaller
    of the 5% and 95% quantile indicators) of one scalar's draws ``(chains, draws)``, as in
    Vehtari et al. (2021), "Rank-normalization, folding, and localization"."""
    x = np.asarray(x, dtype=float)
    if np.ptp(x) == 0:
        return 1.0, float(x.size), float(x.size)
    s = _split(x)
    z = _rank_normal(s)
    zf = _rank_normal(np.abs(s - np.median(s)))
    rhat = max(float(gelman_rubin(z[..., None])[0]),
               float(gelman_rubin(zf[..., None])[0]))  # fmt: skip
    bulk = _ess(z)
    tail = min(_ess((s <= np.quantile(s, q)).astype(float)) for q in (0.05, 0.95))
    return rhat, bulk, tail


def convergence(
    samples: dict[str, np.ndarray], divergences: int, method: str, restarted: int = 0
) -> dict:
    """R-hat, bulk and tail ESS over every latent parameter (samples shaped (chains, draws, ...)).

    Fast mode draws independent samples from an approximation: R-hat is not defined (None) and
    the ESS is the number of draws."""
    if method != "nuts":
        n = next(iter(samples.values())).shape[1]
        return {"rhat_max": None, "ess_bulk_min": float(n), "ess_tail_min": float(n),
                "divergences": 0, "method": method}  # fmt: skip
    stats = []
    for name, v in samples.items():
        if name == "beta":
            continue
        flat = v.reshape(v.shape[0], v.shape[1], -1)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            stats += [rhat_ess(flat[:, :, j]) for j in range(flat.shape[2])]
    arr = np.array(stats, dtype=float).reshape(-1, 3)

    def extreme(col: np.ndarray, fn) -> float:
        ok = col[np.isfinite(col)]
        return float(fn(ok)) if ok.size else float("nan")

    return {
        "rhat_max": extreme(arr[:, 0], np.max),
        "ess_bulk_min": extreme(arr[:, 1], np.min),
        "ess_tail_min": extreme(arr[:, 2], np.min),
        "divergences": int(divergences),
        "method": method,
        "restarted_chains": int(restarted),
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
    moved = int(diag.get("restarted_chains") or 0)
    if moved:
        add("stuck_chains", "REVIEW", moved,
            "a chain sat far below the others at the end of warm-up (often a saturated "
            "always-on channel standing in for the baseline) and was restarted from the best "
            "chain: check that channel's curve, or set an iroas_prior for it")  # fmt: skip
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
