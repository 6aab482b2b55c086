"""``MMM``: the national marketing-mix model estimator (scikit-learn style).

    mmm = MMM(MMMConfig(date="date", target="revenue", channels=("search", "social"))).fit(df)
    mmm.summary()            # per channel iROAS / mROAS with 90% intervals, shares, cpik
    mmm.response_curves()    # steady-state response per period vs spend per period

Point estimates are posterior means; intervals are equal-tailed credible intervals of width
``config.interval`` (90% by default).

The geo-level model is its subclass ``GeoMMM`` (``geo_estimator``); ``MMM(config)`` with
``config.geo`` set is a :class:`~spendlab.errors.ConfigError`. ``make_mmm(config)`` and
``load_mmm(run_dir)`` (``spendlab.measure.mmm.factory``) pick the class from the config. This
module never imports the geo one, so there is no import cycle between them.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from spendlab.errors import ConfigError, DataError, NotFittedError
from spendlab.measure.mmm import transforms as tf
from spendlab.measure.mmm.config import MMMConfig
from spendlab.measure.mmm.data import Prepared, fourier_terms, prepare
from spendlab.measure.mmm.diagnostics import convergence, fit_metrics, health_card
from spendlab.measure.mmm.inference import run_fast, run_nuts
from spendlab.measure.mmm.model import Spec, components, media_params, model_arrays, spec_of
from spendlab.measure.mmm.run_files import read_run, save_run

MROAS_STEP = 0.01  # mROAS: extra outcome from +1% spend in every period, per extra unit of spend


@partial(jax.jit, static_argnums=0)
def _all_components(spec: Spec, samples: dict, a: dict) -> dict:
    return jax.vmap(lambda p: components(spec, p, a))(samples)


class MMM:
    """Bayesian marketing-mix model. ``fit(df)`` takes one row per period (daily or weekly)."""

    #: True for the geo-level estimator (``GeoMMM``): it takes configs with ``geo`` set
    geo_level: bool = False

    def __init__(self, config: MMMConfig) -> None:
        if bool(config.geo) != self.geo_level:
            raise ConfigError(_wrong_class(type(self).__name__, config))
        self.config = config

    # ---------------------------------------------------------------- fitting
    def _prepare(self, df: pd.DataFrame, *, warn: bool = True) -> Any:
        """Validate ``df`` against the config and build the model's scaled arrays."""
        return prepare(df, self.config, warn=warn)

    def fit(self, df: pd.DataFrame) -> MMM:
        cfg = self.config
        prep = self._prepare(df)
        spec, arrays = spec_of(cfg, prep), model_arrays(cfg, prep)
        res = run_fast(spec, arrays, cfg) if cfg.fast else run_nuts(spec, arrays, cfg)
        self._set(df, prep, res.samples, res.method, res.divergences, res.seconds, res.info)
        return self

    def _set(self, df, prep: Prepared, samples, method, divergences, seconds, info=None) -> None:
        """Fitted state; ``info``: sampler details (NUTS: gradient evaluations, mean tree steps;
        fast: the Pareto k of the Laplace draws), saved with the run and reloaded with it."""
        self.data_ = df.reset_index(drop=True)
        self.prep_ = prep
        self.spec_ = spec_of(self.config, prep)
        self.arrays_ = model_arrays(self.config, prep)
        self.samples_ = samples
        self.method_ = method
        self.fit_seconds_ = float(seconds)
        self.inference_info_ = dict(info or {})
        restarted = len(self.inference_info_.get("restarted_chains") or ())
        self.diagnostics_ = convergence(samples, divergences, method, restarted)

    def _check(self) -> None:
        if not hasattr(self, "samples_"):
            raise NotFittedError("this MMM is not fitted yet; call .fit(df) or MMM.load(run_dir)")

    @property
    def channels(self) -> tuple[str, ...]:
        return self.config.channels

    def _flat(self) -> dict[str, jax.Array]:
        return {k: jnp.asarray(v.reshape((-1,) + v.shape[2:])) for k, v in self.samples_.items()}

    def _comp(self, x: np.ndarray | None = None, arrays: dict | None = None) -> dict:
        """Components per draw in data units: baseline (S,T), controls (S,T), media (S,T,C)."""
        a = dict(arrays or self.arrays_)
        if x is not None:
            a["x"] = jnp.asarray(x)
        out = _all_components(self.spec_, self._flat(), a)
        ys = self.prep_.y_scale
        return {k: np.asarray(v) * ys for k, v in out.items()}

    def _band(self, draws: np.ndarray, axis: int = 0) -> tuple[np.ndarray, ...]:
        q = (1 - self.config.interval) / 2
        return (draws.mean(axis=axis), np.quantile(draws, q, axis=axis),
                np.quantile(draws, 1 - q, axis=axis))  # fmt: skip

    # ---------------------------------------------------------------- outputs
    def summary(self) -> pd.DataFrame:
        """Per channel over the fitting period: ``spend``, ``spend_share``, ``contribution`` (mean),
        ``contribution_share`` (of all media), ``iroas_mean/lo/hi``, ``mroas_mean/lo/hi``,
        ``cpik`` (spend per incremental unit of the target, at the mean contribution)."""
        self._check()
        n = self.prep_.n_train
        comp = self._comp()
        contrib = comp["media"][:, :n].sum(axis=1)  # (S, C)
        spend = self.prep_.spend[:n].sum(axis=0)
        up = self._comp(self.prep_.x * (1 + MROAS_STEP))["media"][:, :n].sum(axis=1)
        return self._summary_frame(contrib, up, spend)

    def _summary_frame(self, contrib: np.ndarray, up: np.ndarray, spend: np.ndarray):
        """The per-channel table from contribution draws ``(S, C)`` at the fitted spend and at
        spend x (1 + MROAS_STEP), and the spend per channel (one home for national and geo)."""
        iroas = contrib / spend
        mroas = (up - contrib) / (spend * MROAS_STEP)
        rows = []
        total = contrib.sum(axis=1, keepdims=True)
        share = (contrib / np.where(total > 0, total, np.nan)).mean(axis=0)
        for c, ch in enumerate(self.channels):
            im, il, ih = self._band(iroas[:, c])
            mm, ml, mh = self._band(mroas[:, c])
            cm = contrib[:, c].mean()
            rows.append({
                "channel": ch, "spend": spend[c], "spend_share": spend[c] / spend.sum(),
                "contribution": cm, "contribution_share": share[c],
                "iroas_mean": im, "iroas_lo": il, "iroas_hi": ih,
                "mroas_mean": mm, "mroas_lo": ml, "mroas_hi": mh,
                "cpik": spend[c] / cm if cm > 0 else float("inf"),
            })  # fmt: skip
        return pd.DataFrame(rows)

    def contributions(self) -> pd.DataFrame:
        """Tidy decomposition over time: ``date``, ``component`` (``baseline``, ``controls``, each
        channel), ``mean``, ``lo``, ``hi`` in target units per period."""
        self._check()
        comp = self._comp()
        parts = {"baseline": comp["baseline"], "controls": comp["controls"]}
        parts.update({ch: comp["media"][:, :, c] for c, ch in enumerate(self.channels)})
        frames = []
        for name, d in parts.items():
            m, lo, hi = self._band(d)
            frames.append(pd.DataFrame({"date": self.prep_.dates, "component": name,
                                        "mean": m, "lo": lo, "hi": hi}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def fitted(self) -> pd.DataFrame:
        """``date``, ``actual``, ``mean``, ``lo``, ``hi`` (expected outcome), ``holdout`` flag."""
        self._check()
        mu = self._comp()["mu"]
        m, lo, hi = self._band(mu)
        n = self.prep_.n_train
        return pd.DataFrame({"date": self.prep_.dates, "actual": self.prep_.y, "mean": m,
                             "lo": lo, "hi": hi, "holdout": np.arange(len(m)) >= n})  # fmt: skip

    def _predictive(self, mu: np.ndarray) -> np.ndarray:
        sigma = self._flat()["sigma"]
        rng = np.random.default_rng(self.config.seed)
        return mu + rng.standard_normal(mu.shape) * np.asarray(sigma)[:, None] * self.prep_.y_scale

    def fit_report(self) -> dict[str, Any]:
        """In-sample and holdout MAPE / R² / CRPS (posterior predictive incl. noise)."""
        self._check()
        pred = self._predictive(self._comp()["mu"])
        n, y = self.prep_.n_train, self.prep_.y
        return {"in_sample": fit_metrics(pred[:, :n], y[:n]),
                "holdout": fit_metrics(pred[:, n:], y[n:])}  # fmt: skip

    def health(self) -> pd.DataFrame:
        """The model-health card: ``check``, ``status`` (PASS/REVIEW/FAIL), ``value``,
        ``advice``."""
        fr = self.fit_report()
        base = float(self._comp()["baseline"].mean(axis=0).min())
        return health_card(self.diagnostics_, fr["in_sample"], fr["holdout"], base)

    def _media_draws(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self._flat().items()}

    def response_curve_params(self) -> pd.DataFrame:
        """Per channel and posterior draw, the steady-state response curve in the planner's
        parameterization (x = spend per period, data currency; response in target units per
        period): ``hill``: ``beta * x^s / (x^s + half^s)``; ``logistic``:
        ``beta * (1 - exp(-lam x)) / (1 + exp(-lam x))``. Columns: ``channel``, ``draw``,
        ``type``, ``beta``, ``half``, ``s``, ``lam`` (NaN where a type has no such parameter).
        Michaelis-Menten is reported as ``hill`` with ``s = 1``."""
        self._check()
        d = self._media_draws()
        ys, xs = self.prep_.y_scale, self.prep_.x_scale
        sat = self.config.saturation
        frames = []
        for c, ch in enumerate(self.channels):
            n = d["beta"].shape[0]
            beta = d["beta"][:, c] * ys
            half = d["half"][:, c] * xs[c] if "half" in d else np.full(n, np.nan)
            s = d["slope"][:, c] if "slope" in d else np.ones(n)
            lam = d["lam"][:, c] / xs[c] if "lam" in d else np.full(n, np.nan)
            kind = "logistic" if sat == "logistic" else "hill"
            if kind == "logistic":
                half, s = np.full(n, np.nan), np.full(n, np.nan)
            frames.append(pd.DataFrame({"channel": ch, "draw": np.arange(n), "type": kind,
                                        "beta": beta, "half": half, "s": s,
                                        "lam": lam}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def response_curves(self, points: int = 41, max_multiple: float = 2.0) -> pd.DataFrame:
        """Steady-state response per period at spend per period from 0 to ``max_multiple`` x the
        channel's largest observed spend per period: ``channel``, ``spend``, ``mean``, ``lo``,
        ``hi`` (target units per period), ``current`` (True at the mean spend of the data)."""
        self._check()
        d = self._media_draws()
        frames = []
        for c, ch in enumerate(self.channels):
            mean_spend = self.prep_.spend[: self.prep_.n_train, c].mean()
            grid = np.linspace(0.0, max_multiple * self.prep_.spend[:, c].max(), points)
            grid = np.sort(np.append(grid, mean_spend))
            sp = {k: jnp.asarray(v[:, c : c + 1]) for k, v in d.items() if v.ndim == 2}
            _, satp = media_params(sp)
            x = jnp.asarray(grid / self.prep_.x_scale[c])[None, :]
            r = np.asarray(tf.saturate(self.config.saturation, x, satp)) * sp["beta"]
            m, lo, hi = self._band(np.asarray(r) * self.prep_.y_scale)
            frames.append(pd.DataFrame({"channel": ch, "spend": grid, "mean": m, "lo": lo,
                                        "hi": hi, "current": grid == mean_spend}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def adstock(self) -> pd.DataFrame:
        """Carry-over weights: ``channel``, ``lag`` (periods), ``mean``, ``lo``, ``hi``
        (weights sum to 1)."""
        self._check()
        d = self._flat()
        ad, _ = media_params(d)
        w = jax.vmap(lambda p: tf.adstock_weights(self.config.adstock, p, self.prep_.max_lag))(ad)
        w = np.asarray(w)  # (S, L, C)
        frames = []
        for c, ch in enumerate(self.channels):
            m, lo, hi = self._band(w[:, :, c])
            frames.append(pd.DataFrame({"channel": ch, "lag": np.arange(w.shape[1]),
                                        "mean": m, "lo": lo, "hi": hi}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def counterfactual(self, channel: str) -> pd.DataFrame:
        """What if ``channel`` had been off: ``date``, ``fitted`` (mean), ``without`` (mean),
        ``difference_mean/lo/hi`` (the outcome the channel caused, per period)."""
        self._check()
        if channel not in self.channels:
            raise ConfigError(f"{channel!r} is not a channel of this model: {list(self.channels)}")
        c = self.channels.index(channel)
        x = self.prep_.x.copy()
        x[:, c] = 0.0
        mu = self._comp()["mu"]
        mu0 = self._comp(x)["mu"]
        m, lo, hi = self._band(mu - mu0)
        return pd.DataFrame({"date": self.prep_.dates, "fitted": mu.mean(axis=0),
                             "without": mu0.mean(axis=0), "difference_mean": m,
                             "difference_lo": lo, "difference_hi": hi})  # fmt: skip

    def predict(self, future: pd.DataFrame) -> pd.DataFrame:
        """Expected outcome for a future spend plan (rows after the data, same period length;
        columns: the date, every channel, every control and event). Carry-over from the history is
        included; the trend is extrapolated. Returns ``date``, ``mean``, ``lo``, ``hi`` (expected
        outcome, without observation noise)."""
        self._check()
        cfg, prep = self.config, self.prep_
        need = [cfg.date, *cfg.channels, *cfg.controls, *cfg.events]
        missing = [c for c in need if c not in future.columns]
        if missing:
            raise ConfigError(f"the future plan lacks column(s) {missing}; it needs {need}")
        dates = pd.DatetimeIndex(pd.to_datetime(future[cfg.date]))
        step = pd.Timedelta(days=prep.period_days)
        expected = pd.date_range(prep.dates[-1] + step, periods=len(dates), freq=step)
        if not dates.equals(expected):
            raise DataError(
                f"future dates must continue the data every {prep.period_days} day(s) from "
                f"{expected[0].date()}; got {dates[0].date()}..{dates[-1].date()}"
            )
        spend = future[list(cfg.channels)].to_numpy(dtype=float)
        if (spend < 0).any() or np.isnan(spend).any():
            raise DataError("future spend must be non-negative numbers (no NaN)")
        all_dates = prep.dates.append(dates)
        ctrl = future[list(cfg.controls)].to_numpy(dtype=float).reshape(len(future), -1)
        a = dict(self.arrays_)
        a["x"] = jnp.asarray(np.vstack([prep.spend, spend]) / prep.x_scale)
        a["z"] = jnp.asarray(np.vstack([prep.controls, (ctrl - prep.control_mean) / np.where(
            prep.control_sd == 0, 1.0, prep.control_sd)]))  # fmt: skip
        ev = future[list(cfg.events)].to_numpy(dtype=float).reshape(len(future), -1)
        a["events"] = jnp.asarray(np.vstack([prep.events, ev]))
        a["fourier"] = jnp.asarray(fourier_terms(all_dates, prep.period_days, cfg))
        a["t"] = jnp.asarray((all_dates - prep.t0).days.to_numpy() / prep.t_span_days)
        mu = self._comp(arrays=a)["mu"][:, len(prep.dates) :]
        m, lo, hi = self._band(mu)
        return pd.DataFrame({"date": dates, "mean": m, "lo": lo, "hi": hi})

    def to_json(self) -> dict[str, Any]:
        """The CLI/API payload: per channel iroas/mroas {mean, lo, hi}, contribution_share,
        spend_share, cpik; diagnostics; fit metrics; health; fit_seconds."""
        s = self.summary()
        chans = {}
        for r in s.itertuples(index=False):
            chans[r.channel] = {
                "iroas": {"mean": r.iroas_mean, "lo": r.iroas_lo, "hi": r.iroas_hi},
                "mroas": {"mean": r.mroas_mean, "lo": r.mroas_lo, "hi": r.mroas_hi},
                "contribution_share": r.contribution_share,
                "spend_share": r.spend_share,
                "cpik": r.cpik,
            }
        diag = self.diagnostics_
        return {
            "target": self.config.target,
            "interval": self.config.interval,
            "point_estimate": "mean",
            "channels": chans,
            "diagnostics": {
                k: diag[k]
                for k in ("rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "method")
            },  # fmt: skip
            "fit": self.fit_report(),
            "health": self.health().to_dict(orient="records"),
            "fit_seconds": self.fit_seconds_,
        }

    # ---------------------------------------------------------------- persistence
    def save(self, run_dir) -> Any:
        self._check()
        return save_run(self, run_dir)

    @classmethod
    def load(cls, run_dir) -> MMM:
        """The fitted model saved in ``run_dir`` (no refit). A national run loads with
        ``MMM.load``, a geo run with ``GeoMMM.load``; ``load_mmm(run_dir)`` loads either."""
        saved = read_run(run_dir)
        model = cls(saved.config)
        prep = model._prepare(saved.frame, warn=False)
        if prep.data_hash != saved.meta["data_hash"]:
            raise ConfigError(
                f"{saved.folder}/data.csv does not match the run's data hash; it was edited"
            )
        meta = saved.meta
        divergences = meta["diagnostics"]["divergences"]
        info = meta.get("inference_info")
        model._set(
            saved.frame, prep, saved.samples, meta["method"], divergences, meta["fit_seconds"], info
        )
        return model


def _wrong_class(name: str, config: MMMConfig) -> str:
    if config.geo:
        return (
            f"MMMConfig(geo={config.geo!r}) is a geo-level model, which {name} does not fit; "
            "build the estimator with spendlab.measure.mmm.make_mmm(config) (it picks GeoMMM), "
            "and load a saved run with spendlab.measure.mmm.load_mmm(run_dir)"
        )
    return (
        f"{name} is the geo-level model and needs MMMConfig(geo=COLUMN); for a national model "
        "build the estimator with spendlab.measure.mmm.make_mmm(config) (it picks MMM)"
    )
