"""``GeoMMM``: the geo-level hierarchical MMM (``make_mmm(MMMConfig(..., geo="geo"))`` builds one).

National outputs sum over geos: a channel's national contribution is the sum of its geo
contributions, so its national iROAS is ``sum_g contribution_gc / sum_g spend_gc``. The per-geo
table is ``geo_summary()`` (or ``summary(level="geo")``).

Fast mode (MAP + Laplace) fixes the pooling scale by empirical Bayes: the joint mode of the
hierarchy over-estimates ``tau`` in the non-centred form and collapses it to 0 in the centred form,
so a first fast fit without pooling gives each geo's log-iROAS ``w_gc`` and its Laplace sd
``se_gc``, ``tau_c^2 = max(var_g(w_gc) - mean_g(se_gc^2), 0.05^2)`` (the method-of-moments
random-effects estimate), and the second fast fit pools with that ``tau_c``. NUTS samples ``tau_c``.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from spendlab.errors import ConfigError, DataError
from spendlab.measure.mmm import transforms as tf
from spendlab.measure.mmm.config import MMMConfig
from spendlab.measure.mmm.data import fourier_terms
from spendlab.measure.mmm.diagnostics import convergence, fit_metrics, health_card
from spendlab.measure.mmm.estimator import MMM, MROAS_STEP
from spendlab.measure.mmm.geo_data import GeoPrepared, prepare_geo
from spendlab.measure.mmm.geo_model import GeoSpec, components, geo_arrays, geo_spec_of
from spendlab.measure.mmm.inference import InferenceResult, run_fast, run_nuts
from spendlab.measure.mmm.model import media_params

TAU_FLOOR = 0.05
NATIONAL = "(national)"  # the ``geo`` label of the rows summed over geos


@partial(jax.jit, static_argnums=0)
def _all_components(spec: GeoSpec, samples: dict, a: dict) -> dict:
    return jax.vmap(lambda p: components(spec, p, a))(samples)


def run_geo_fast(spec: GeoSpec, arrays: dict, cfg: MMMConfig) -> tuple[GeoSpec, dict, Any]:
    """Fast mode with the empirical-Bayes pooling scale (see the module docstring)."""
    t0 = time.perf_counter()
    spec0 = spec._replace(pooling=False)
    r0 = run_fast(spec0, arrays, cfg)
    if not spec.pooling:
        return spec0, arrays, r0
    w = np.log(r0.samples["iroas"][0])  # (D, G, C)
    wm, se = w.mean(axis=0), w.std(axis=0)
    tau = np.sqrt(np.maximum(wm.var(axis=0, ddof=1) - (se**2).mean(axis=0), TAU_FLOOR**2))
    spec1 = spec._replace(tau_fixed=True)
    a1 = {**arrays, "iroas_tau": jnp.asarray(tau, dtype=jnp.float32)}
    r1 = run_fast(spec1, a1, cfg)
    d = r1.samples["iroas"].shape[1]
    r1.samples["iroas_tau"] = np.broadcast_to(tau, (1, d, tau.size)).copy()
    info = {**r1.info, "tau_empirical_bayes": tau.tolist()}
    res = InferenceResult(r1.samples, 0, r1.method, time.perf_counter() - t0, info)
    return spec1, a1, res


class GeoMMM(MMM):
    """Hierarchical geo MMM; long input with one row per (date, geo)."""

    geo_level = True

    def _prepare(self, df: pd.DataFrame, *, warn: bool = True) -> GeoPrepared:
        return prepare_geo(df, self.config)

    def fit(self, df: pd.DataFrame) -> GeoMMM:
        cfg = self.config
        prep = self._prepare(df)
        spec, arrays = geo_spec_of(cfg, prep), geo_arrays(cfg, prep)
        if cfg.fast:
            _, _, res = run_geo_fast(spec, arrays, cfg)
        else:
            res = run_nuts(spec, arrays, cfg)
        self._set(df, prep, res.samples, res.method, res.divergences, res.seconds, res.info)
        return self

    def _set(self, df, prep, samples, method, divergences, seconds, info=None) -> None:
        """Fitted state (from ``fit`` or from a saved run: ``MMM.load``). Fast pooled runs keep
        their empirical-Bayes ``tau_c`` in the draws (``iroas_tau``, constant), so a reloaded run
        rebuilds the same spec and arrays."""
        cfg = self.config
        spec, arrays = geo_spec_of(cfg, prep), geo_arrays(cfg, prep)
        info = dict(info or {})
        if method != "nuts" and spec.pooling:
            tau = np.asarray(samples["iroas_tau"])[0, 0]
            spec = spec._replace(tau_fixed=True)
            arrays = {**arrays, "iroas_tau": jnp.asarray(tau, dtype=jnp.float32)}
            info.setdefault("tau_empirical_bayes", tau.tolist())
        self.data_ = df.reset_index(drop=True)
        self.prep_: GeoPrepared = prep
        self.spec_, self.arrays_ = spec, arrays
        self.samples_ = samples
        self.method_ = method
        self.fit_seconds_ = float(seconds)
        restarted = len(info.get("restarted_chains") or ())
        self.diagnostics_ = convergence(samples, divergences, method, restarted)
        self.inference_info_ = info

    @property
    def geos(self) -> tuple[str, ...]:
        return self.prep_.geos

    def _comp(self, x: np.ndarray | None = None, arrays: dict | None = None) -> dict:
        """Per draw in data units: baseline/controls/mu (S, G, T), media (S, G, T, C)."""
        a = dict(arrays or self.arrays_)
        if x is not None:
            a["x"] = jnp.asarray(x, dtype=jnp.float32)
        out = _all_components(self.spec_, self._flat(), a)
        ys = self.prep_.y_scale
        res = {k: np.asarray(v) * ys[None, :, None] for k, v in out.items() if k != "media"}
        res["media"] = np.asarray(out["media"]) * ys[None, :, None, None]
        return res

    def _contrib(self, x: np.ndarray | None = None) -> np.ndarray:
        return self._comp(x)["media"][:, :, : self.prep_.n_train].sum(axis=2)  # (S, G, C)

    # ---------------------------------------------------------------- outputs
    def summary(self, level: str = "national") -> pd.DataFrame:
        """National per channel (as ``MMM.summary``: contributions and spend summed over geos);
        ``level="geo"``: the per-geo table of ``geo_summary()``."""
        if level == "geo":
            return self.geo_summary()
        if level != "national":
            raise ConfigError(f"level {level!r} is unknown; use 'national' or 'geo'")
        self._check()
        n = self.prep_.n_train
        contrib_g = self._contrib()
        contrib = contrib_g.sum(axis=1)  # (S, C)
        spend = self.prep_.spend[:, :n].sum(axis=(0, 1))
        up = self._contrib(self.prep_.x * (1 + MROAS_STEP)).sum(axis=1)
        return self._summary_frame(contrib, up, spend)

    def geo_summary(self) -> pd.DataFrame:
        """Per geo and channel: ``geo``, ``channel``, ``spend``, ``contribution`` (mean),
        ``iroas_mean/lo/hi`` over the fitting period (NaN iROAS where the geo has no spend)."""
        self._check()
        n = self.prep_.n_train
        contrib = self._contrib()
        spend = self.prep_.spend[:, :n].sum(axis=1)  # (G, C)
        with np.errstate(all="ignore"):
            iroas = contrib / np.where(spend > 0, spend, np.nan)[None]
        rows = []
        for g, geo in enumerate(self.geos):
            for c, ch in enumerate(self.channels):
                m, lo, hi = self._band(iroas[:, g, c])
                rows.append({"geo": geo, "channel": ch, "spend": spend[g, c],
                             "contribution": contrib[:, g, c].mean(),
                             "iroas_mean": m, "iroas_lo": lo, "iroas_hi": hi})  # fmt: skip
        return pd.DataFrame(rows)

    def contributions(self) -> pd.DataFrame:
        """National decomposition over time (sum over geos), as ``MMM.contributions``."""
        self._check()
        comp = self._comp()
        parts = {"baseline": comp["baseline"].sum(1), "controls": comp["controls"].sum(1)}
        parts.update({ch: comp["media"][:, :, :, c].sum(1) for c, ch in enumerate(self.channels)})
        frames = []
        for name, d in parts.items():
            m, lo, hi = self._band(d)
            frames.append(pd.DataFrame({"date": self.prep_.dates, "component": name,
                                        "mean": m, "lo": lo, "hi": hi}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def fitted(self) -> pd.DataFrame:
        """National ``date``, ``actual``, ``mean``, ``lo``, ``hi``, ``holdout`` (sum over geos)."""
        self._check()
        m, lo, hi = self._band(self._comp()["mu"].sum(axis=1))
        n = self.prep_.n_train
        return pd.DataFrame({"date": self.prep_.dates, "actual": self.prep_.y.sum(axis=0),
                             "mean": m, "lo": lo, "hi": hi,
                             "holdout": np.arange(len(m)) >= n})  # fmt: skip

    def fit_report(self) -> dict[str, Any]:
        """MAPE / R² / CRPS over every (geo, period) row, in sample and on the holdout."""
        self._check()
        mu = self._comp()["mu"]  # (S, G, T)
        sigma = np.asarray(self._flat()["sigma"]) * self.prep_.y_scale[None]  # (S, G)
        rng = np.random.default_rng(self.config.seed)
        pred = mu + rng.standard_normal(mu.shape) * sigma[:, :, None]
        n, y = self.prep_.n_train, self.prep_.y
        s = pred.shape[0]
        ins = fit_metrics(pred[:, :, :n].reshape(s, -1), y[:, :n].ravel())
        return {"in_sample": ins, "holdout": fit_metrics(pred[:, :, n:].reshape(s, -1),
                                                         y[:, n:].ravel())}  # fmt: skip

    def health(self) -> pd.DataFrame:
        fr = self.fit_report()
        base = float(self._comp()["baseline"].mean(axis=0).min())
        return health_card(self.diagnostics_, fr["in_sample"], fr["holdout"], base)

    # ---------------------------------------------------------------- national response curves
    def _geo_curve(self, c: int, spend_per_period: np.ndarray) -> np.ndarray:
        """Exact national steady-state response per draw ``(S, P)`` at national spend per period
        ``X``, split over geos by their share of the channel's spend: sum over geos."""
        d = self._media_draws()
        prep, n = self.prep_, self.prep_.n_train
        tot = prep.spend[:, :n, c].sum(axis=1)
        share = tot / tot.sum()  # (G,)
        xg = (
            share[None, :, None]
            * spend_per_period[None, None, :]
            / prep.x_scale[:, c][None, :, None]
        )
        sp = {k: jnp.asarray(v[:, c])[:, None, None] for k, v in d.items()
              if k in ("half", "slope", "lam")}  # fmt: skip
        _, satp = media_params(sp)
        sat = np.asarray(tf.saturate(self.config.saturation, jnp.asarray(xg), satp))
        amp = d["beta"][:, :, c] * prep.y_scale[None]  # (S, G)
        return (sat * amp[:, :, None]).sum(axis=1)

    def response_curve_params(self) -> pd.DataFrame:
        """National curve per draw in the planner's parameterization (see ``MMM``): ``beta`` is
        the sum over geos of the geo asymptotes (beta_gc x y_scale_g), the slope ``s`` is the
        shared one, and ``half`` (hill) / ``lam`` (logistic) are set so that the curve reaches
        half its asymptote at the same national spend as the exact sum of geo curves (national
        spend split over geos by their spend shares). Exact when every geo's half-saturation is
        the same fraction of its spend share (e.g. own scaling with equally many active periods
        per geo); otherwise the curve matches the exact one at 0, at half and at the asymptote."""
        self._check()
        d = self._media_draws()
        sat = self.config.saturation
        frames = []
        for c, ch in enumerate(self.channels):
            beta = (d["beta"][:, :, c] * self.prep_.y_scale[None]).sum(axis=1)
            n = beta.size
            lo = np.full(n, 1e-6 * self.prep_.spend[:, :, c].sum(axis=0).mean())
            hi = np.full(n, 1e6 * self.prep_.spend[:, :, c].sum(axis=0).mean() + 1.0)
            for _ in range(60):  # bisection on log spend for R(X) = beta / 2
                mid = np.sqrt(lo * hi)
                r = self._curve_at(c, mid)
                below = r < 0.5 * beta
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            x_half = np.sqrt(lo * hi)
            kind = "logistic" if sat == "logistic" else "hill"
            half = x_half if kind == "hill" else np.full(n, np.nan)
            s = (d["slope"][:, c] if "slope" in d else np.ones(n)) if kind == "hill" else (
                np.full(n, np.nan))  # fmt: skip
            lam = np.log(3.0) / x_half if kind == "logistic" else np.full(n, np.nan)
            frames.append(pd.DataFrame({"channel": ch, "draw": np.arange(n), "type": kind,
                                        "beta": beta, "half": half, "s": s,
                                        "lam": lam}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def _curve_at(self, c: int, x_per_draw: np.ndarray) -> np.ndarray:
        """Exact national response of each draw ``i`` at its own spend ``x_per_draw[i]``."""
        d = self._media_draws()
        prep, n = self.prep_, self.prep_.n_train
        tot = prep.spend[:, :n, c].sum(axis=1)
        share = tot / tot.sum()
        xg = share[None, :] * x_per_draw[:, None] / prep.x_scale[None, :, c]  # (S, G)
        sp = {k: jnp.asarray(v[:, c])[:, None] for k, v in d.items()
              if k in ("half", "slope", "lam")}  # fmt: skip
        _, satp = media_params(sp)
        sat = np.asarray(tf.saturate(self.config.saturation, jnp.asarray(xg), satp))
        return (sat * d["beta"][:, :, c] * prep.y_scale[None]).sum(axis=1)

    def response_curves(self, points: int = 41, max_multiple: float = 2.0) -> pd.DataFrame:
        """National steady-state response per period (exact sum over geos, national spend split
        by geo spend shares): ``channel``, ``spend``, ``mean``, ``lo``, ``hi``, ``current``."""
        self._check()
        frames = []
        n = self.prep_.n_train
        for c, ch in enumerate(self.channels):
            nat = self.prep_.spend[:, :, c].sum(axis=0)
            mean_spend = nat[:n].mean()
            grid = np.sort(np.append(np.linspace(0.0, max_multiple * nat.max(), points),
                                     mean_spend))  # fmt: skip
            m, lo, hi = self._band(self._geo_curve(c, grid))
            frames.append(pd.DataFrame({"channel": ch, "spend": grid, "mean": m, "lo": lo,
                                        "hi": hi, "current": grid == mean_spend}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def counterfactual(self, channel: str) -> pd.DataFrame:
        """What if ``channel`` had been off, per geo and in total: ``date``, ``geo`` (each geo,
        then ``NATIONAL`` for the sum over geos), ``fitted`` (mean), ``without`` (mean),
        ``difference_mean/lo/hi`` (the outcome the channel caused, per period; intervals of the
        national rows are of the summed draws)."""
        self._check()
        if channel not in self.channels:
            raise ConfigError(f"{channel!r} is not a channel of this model: {list(self.channels)}")
        x = self.prep_.x.copy()
        x[:, :, self.channels.index(channel)] = 0.0
        mu, mu0 = self._comp()["mu"], self._comp(x)["mu"]  # (S, G, T)
        frames = []
        for label, f, f0 in self._levels(mu, mu0):
            m, lo, hi = self._band(f - f0)
            frames.append(pd.DataFrame({"date": self.prep_.dates, "geo": label,
                                        "fitted": f.mean(axis=0), "without": f0.mean(axis=0),
                                        "difference_mean": m, "difference_lo": lo,
                                        "difference_hi": hi}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def _levels(self, *draws: np.ndarray):
        """``(label, *per-draw series (S, T))`` for each geo of ``(S, G, T)`` draws, then the
        national sum."""
        for g, geo in enumerate(self.geos):
            yield (geo, *(d[:, g] for d in draws))
        yield (NATIONAL, *(d.sum(axis=1) for d in draws))

    def predict(self, future: pd.DataFrame) -> pd.DataFrame:
        """Expected outcome for a future plan, per geo and in total (see ``MMM.predict``: the
        rows continue the data, carry-over from the history is included, the trend is
        extrapolated; no observation noise). ``future``: one row per (date, geo) with the date,
        geo, every channel, control and event column; or, without the geo column, one row per
        date with national spend, split over geos by each geo's share of the channel's spend in
        the fitting period (controls and events then apply to every geo). Returns ``date``,
        ``geo`` (each geo, then ``NATIONAL`` for the sum over geos), ``mean``, ``lo``, ``hi``."""
        self._check()
        cfg, prep = self.config, self.prep_
        dates, spend, ctrl, ev = self._future_arrays(future)
        all_dates = prep.dates.append(dates)
        sd = np.where(prep.control_sd == 0, 1.0, prep.control_sd)
        a = dict(self.arrays_)
        f32 = partial(jnp.asarray, dtype=jnp.float32)
        a["x"] = f32(np.concatenate([prep.spend, spend], axis=1) / prep.x_scale[:, None, :])
        a["z"] = f32(np.concatenate([prep.controls, (ctrl - prep.control_mean) / sd], axis=1))
        a["events"] = f32(np.concatenate([prep.events, ev], axis=1))
        a["fourier"] = f32(fourier_terms(all_dates, prep.period_days, cfg))
        a["t"] = f32((all_dates - prep.t0).days.to_numpy() / prep.t_span_days)
        mu = self._comp(arrays=a)["mu"][:, :, len(prep.dates) :]  # (S, G, K)
        frames = []
        for label, d in self._levels(mu):
            m, lo, hi = self._band(d)
            frames.append(pd.DataFrame({"date": dates, "geo": label, "mean": m, "lo": lo,
                                        "hi": hi}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def _future_arrays(self, future: pd.DataFrame) -> tuple[pd.DatetimeIndex, ...]:
        """Checked future plan as ``dates`` and (G, K, .) spend, raw controls and events."""
        cfg, prep = self.config, self.prep_
        need = [cfg.date, *cfg.channels, *cfg.controls, *cfg.events]
        missing = [c for c in need if c not in future.columns]
        if missing:
            raise ConfigError(
                f"the future plan lacks column(s) {missing}; it needs {need} and, per geo, "
                f"{cfg.geo!r} (without it the spend is national and split over geos)"
            )
        future = future.reset_index(drop=True)
        cols = {"spend": list(cfg.channels), "ctrl": list(cfg.controls), "ev": list(cfg.events)}
        if cfg.geo in future.columns:
            labels = future[cfg.geo].astype(str)
            unknown = sorted(set(labels) - set(self.geos))
            if unknown:
                raise DataError(f"the future plan names geo(s) {unknown[:5]} the model has not "
                                f"seen; its geos are {list(self.geos)[:10]}")  # fmt: skip
            subs = [future[labels == g].sort_values(cfg.date, kind="stable") for g in self.geos]
            counts = {g: len(s) for g, s in zip(self.geos, subs, strict=True)}
            if len(set(counts.values())) != 1:
                raise DataError(f"the future plan needs the same dates for every geo; rows per "
                                f"geo: {counts}")  # fmt: skip
            dates = pd.DatetimeIndex(pd.to_datetime(subs[0][cfg.date]))
            for g, s in zip(self.geos, subs, strict=True):
                if not pd.DatetimeIndex(pd.to_datetime(s[cfg.date])).equals(dates):
                    raise DataError(f"geo {g!r} has other dates in the future plan than geo "
                                    f"{self.geos[0]!r}; every geo needs the same")  # fmt: skip
            arr = {k: np.stack([s[v].to_numpy(dtype=float).reshape(len(s), -1) for s in subs])
                   for k, v in cols.items()}  # fmt: skip
        else:
            future = future.sort_values(cfg.date, kind="stable")
            dates = pd.DatetimeIndex(pd.to_datetime(future[cfg.date]))
            arr = {k: np.broadcast_to(future[v].to_numpy(dtype=float).reshape(len(future), -1),
                                      (len(self.geos), len(future), len(v)))
                   for k, v in cols.items()}  # fmt: skip
            tot = prep.spend[:, : prep.n_train].sum(axis=1)  # (G, C)
            share = tot / np.where(tot.sum(axis=0) > 0, tot.sum(axis=0), np.nan)
            share = np.where(np.isfinite(share), share, 1.0 / len(self.geos))
            arr["spend"] = arr["spend"] * share[:, None, :]
        step = pd.Timedelta(days=prep.period_days)
        expected = pd.date_range(prep.dates[-1] + step, periods=len(dates), freq=step)
        if len(dates) == 0 or not dates.equals(expected):
            got = f"{dates[0].date()}..{dates[-1].date()}" if len(dates) else "no rows"
            raise DataError(
                f"future dates must continue the data every {prep.period_days} day(s) from "
                f"{expected[0].date() if len(expected) else prep.dates[-1] + step}; got {got}"
            )
        if (arr["spend"] < 0).any() or np.isnan(arr["spend"]).any():
            raise DataError("future spend must be non-negative numbers (no NaN)")
        if np.isnan(arr["ctrl"]).any() or np.isnan(arr["ev"]).any():
            raise DataError("future controls and events must be numbers (no NaN)")
        return dates, arr["spend"], arr["ctrl"], arr["ev"]

    def to_json(self) -> dict[str, Any]:
        """``MMM.to_json`` (national, summed over geos) plus ``level`` and ``geos``: per geo and
        channel ``iroas`` {mean, lo, hi}."""
        out = super().to_json()
        geos: dict[str, dict] = {}
        for r in self.geo_summary().itertuples(index=False):
            geos.setdefault(r.geo, {})[r.channel] = {
                "iroas": {"mean": r.iroas_mean, "lo": r.iroas_lo, "hi": r.iroas_hi},
                "spend": r.spend,
            }
        out["level"] = "geo"
        out["geos"] = geos
        if "tau_empirical_bayes" in self.inference_info_:
            out["tau_empirical_bayes"] = self.inference_info_["tau_empirical_bayes"]
        return out
