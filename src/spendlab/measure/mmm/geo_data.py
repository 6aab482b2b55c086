"""Input checks and arrays of the geo-level model (long input: one row per date and geo).

Scaling (internal), per geo ``g``: the target is divided by ``y_scale_g`` and each channel's
spend by ``x_scale_gc``. By default both are the geo's own means (target mean; spend mean over
periods with spend), so a shared half-saturation ``half_c`` means "saturates at the same multiple
of the geo's usual spend". With ``population`` (per-capita modelling, as Meridian does) they are
the geo's population times the national per-capita means instead: the saturation point is then
shared in spend per head and intercepts carry the per-capita differences between geos.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spendlab.errors import ConfigError, DataError
from spendlab.measure.mmm.config import MMMConfig
from spendlab.measure.mmm.data import _check_columns, _dates, _lifts, data_hash, fourier_terms

MIN_GEOS = 2


@dataclass(frozen=True)
class GeoPrepared:
    geos: tuple[str, ...]
    dates: pd.DatetimeIndex
    period_days: int
    spend: np.ndarray  # (G, T, C) data units
    x: np.ndarray  # (G, T, C) scaled
    x_scale: np.ndarray  # (G, C)
    y: np.ndarray  # (G, T) data units
    y_scale: np.ndarray  # (G,)
    controls: np.ndarray  # (G, T, K) standardised over all rows
    control_mean: np.ndarray  # (K,) of the raw controls over all rows (for predict)
    control_sd: np.ndarray  # (K,)
    events: np.ndarray  # (G, T, E)
    fourier: np.ndarray  # (T, F)
    t: np.ndarray  # (T,)
    t0: pd.Timestamp
    t_span_days: float
    max_lag: int
    n_train: int
    population: np.ndarray | None  # (G,)
    data_hash: str
    # lift tests: window weights (N, T), channel (N,), geo weights (N, G) = y_scale_g / lift_scale
    # on the tested geo(s), measured value and se (N,) divided by lift_scale (sum of y_scale)
    lift_idx: np.ndarray
    lift_channel: np.ndarray
    lift_geo: np.ndarray
    lift_value: np.ndarray
    lift_se: np.ndarray

    @property
    def n_params_per_geo(self) -> int:
        c = self.x.shape[2]
        return 3 + c + self.controls.shape[2] + self.events.shape[2] + (self.fourier.shape[1] > 0)


def _geo_labels(df: pd.DataFrame, cfg: MMMConfig) -> pd.Series:
    col = cfg.geo
    if col not in df.columns:
        raise ConfigError(f"geo column {col!r} not in the data; available: {list(df.columns)}")
    g = df[col]
    miss = g.isna() | (g.astype(str).str.strip() == "")
    if miss.any():
        i = int(np.argmax(miss.to_numpy()))
        raise DataError(
            f"geo column {col!r} has {int(miss.sum())} missing value(s), first at row {i + 1} "
            f"(date {df[cfg.date].iloc[i]}); every row needs its geo: fill it or drop the row"
        )
    return g.astype(str)


def prepare_geo(df: pd.DataFrame, cfg: MMMConfig) -> GeoPrepared:
    """Validate long geo data against ``cfg`` and build the (G, T, ...) arrays."""
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise DataError("the data are empty; pass a DataFrame with one row per date and geo")
    _check_columns(df, cfg)
    df = df.reset_index(drop=True)
    labels = _geo_labels(df, cfg)
    geos = tuple(pd.unique(labels))
    if len(geos) < MIN_GEOS:
        raise DataError(
            f"geo column {cfg.geo!r} has {len(geos)} geo; the geo model needs at least "
            f"{MIN_GEOS} (drop --geo to fit a national model)"
        )
    counts = labels.value_counts()
    most = int(counts.max())
    frames: list[pd.DataFrame] = []
    dates = None
    step = 7
    for g in geos:
        sub = df[labels == g].sort_values(cfg.date, kind="stable").reset_index(drop=True)
        if len(sub) < most:
            raise DataError(
                f"geo {g!r} has {len(sub)} rows but other geos have {most}; every geo needs the "
                "same periods (add the missing periods with spend 0, or drop the geo)"
            )
        try:
            d, step = _dates(sub, cfg)
        except DataError as e:
            raise DataError(f"geo {g!r}: {e}") from e
        if dates is None:
            dates = d
        elif not d.equals(dates):
            diff = d.difference(dates).union(dates.difference(d))
            raise DataError(
                f"geo {g!r} has different dates from geo {geos[0]!r} (first difference "
                f"{diff[0].date()}); every geo needs the same periods"
            )
        frames.append(sub)
    assert dates is not None
    chans = list(cfg.channels)
    spend = np.stack([f[chans].to_numpy(dtype=float) for f in frames])  # (G, T, C)
    y = np.stack([f[cfg.target].to_numpy(dtype=float) for f in frames])
    for c, ch in enumerate(chans):
        neg = spend[:, :, c] < 0
        if neg.any():
            gi, ti = np.argwhere(neg)[0]
            raise DataError(
                f"channel {ch!r} has negative spend {spend[gi, ti, c]} in geo {geos[gi]!r} at "
                f"{dates[ti].date()}; spend must be >= 0"
            )
        if not spend[:, :, c].any():
            raise DataError(f"channel {ch!r} has no spend in any geo; drop it from --channel")
        if np.ptp(spend[:, :, c]) == 0:
            raise DataError(f"channel {ch!r} spends the same amount everywhere; drop it")
    if (y < 0).any() and cfg.nonneg_baseline:
        raise DataError(f"target {cfg.target!r} has negative values; the baseline is non-negative")
    n_train = len(dates) - cfg.holdout
    if cfg.holdout < 0 or n_train < 2:
        raise ConfigError(f"holdout {cfg.holdout} leaves no data to fit; use fewer periods")
    nz = np.where(spend > 0, spend, np.nan)
    with np.errstate(all="ignore"):
        own_x = np.nan_to_num(np.nanmean(nz, axis=1), nan=1.0)  # (G, C)
    own_y = np.abs(y).mean(axis=1)
    pop = None
    if cfg.population is not None:
        if cfg.population not in df.columns:
            raise ConfigError(f"population column {cfg.population!r} not in the data")
        pop_gt = np.stack([pd.to_numeric(f[cfg.population], errors="coerce").to_numpy(float)
                           for f in frames])  # fmt: skip
        if not np.all(np.isfinite(pop_gt)) or (pop_gt <= 0).any():
            gi = int(np.argwhere(~(pop_gt > 0))[0][0])
            raise DataError(
                f"population column {cfg.population!r} must be a positive number in every row "
                f"(geo {geos[gi]!r} is not)"
            )
        pop = pop_gt.mean(axis=1)
        share = pop / pop.sum()
        y_scale = share * y[:, :n_train].sum() / n_train
        nat = np.nansum(nz, axis=(0, 1)) / np.maximum(np.sum(spend > 0, axis=(0, 1)) / len(geos), 1)
        x_scale = share[:, None] * nat[None, :]
    else:
        y_scale, x_scale = own_y, own_x
    zero = np.flatnonzero(y_scale == 0)
    if zero.size:
        raise DataError(f"target {cfg.target!r} is zero everywhere in geo {geos[zero[0]]!r}")
    ctrl = np.stack([f[list(cfg.controls)].to_numpy(dtype=float).reshape(len(f), -1)
                     for f in frames])  # fmt: skip
    flat = ctrl.reshape(len(geos) * len(dates), ctrl.shape[2])
    c_mean, c_sd = flat.mean(axis=0), flat.std(axis=0)
    for k, name in enumerate(cfg.controls):
        if c_sd[k] == 0:
            raise DataError(f"control {name!r} is constant; drop it (it duplicates the intercept)")
    events = np.stack([f[list(cfg.events)].to_numpy(dtype=float).reshape(len(f), -1)
                       for f in frames])  # fmt: skip
    t_span = max(float((dates[n_train - 1] - dates[0]).days), 1.0)
    lift_scale = float(y_scale.sum())
    lift_idx, lift_ch, lift_val, lift_se = _lifts(cfg, dates, step, lift_scale)
    lift_geo = np.zeros((len(cfg.lift_tests), len(geos)))
    for i, lt in enumerate(cfg.lift_tests):
        if lt.geo is not None and str(lt.geo) not in geos:
            raise ConfigError(f"lift test on {lt.channel!r} names geo {lt.geo!r}, which is not "
                              f"in the data; geos: {list(geos)[:10]}")  # fmt: skip
        on = np.array([lt.geo is None or str(lt.geo) == g for g in geos])
        lift_geo[i] = on * y_scale / lift_scale
    out = GeoPrepared(
        geos=geos,
        dates=dates,
        period_days=step,
        spend=spend,
        x=spend / x_scale[:, None, :],
        x_scale=x_scale,
        y=y,
        y_scale=y_scale,
        controls=(ctrl - c_mean) / np.where(c_sd == 0, 1.0, c_sd),
        control_mean=c_mean,
        control_sd=c_sd,
        events=events,
        fourier=fourier_terms(dates, step, cfg),
        t=((dates - dates[0]).days.to_numpy() / t_span).astype(float),
        t0=dates[0],
        t_span_days=t_span,
        max_lag=cfg.max_lag or (8 if step == 7 else 21),
        n_train=n_train,
        population=pop,
        data_hash=hashlib.sha256(
            (data_hash(dates, y, spend, ctrl, events) + "|".join(geos)).encode()
        ).hexdigest(),
        lift_idx=lift_idx,
        lift_channel=lift_ch,
        lift_geo=lift_geo,
        lift_value=lift_val,
        lift_se=lift_se,
    )
    if n_train <= out.n_params_per_geo + 2:
        raise DataError(
            f"{n_train} periods per geo to fit but each geo has about {out.n_params_per_geo} "
            "parameters of its own; use more history or fewer channels/controls"
        )
    return out
