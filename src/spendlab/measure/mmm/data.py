"""Input checks and design matrices: bad input fails early with a message that says what to do.

Scaling (internal): each channel's spend is divided by its mean over non-zero periods, the target by
its mean, controls are standardised. Results are always reported back in the data's own units.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spendlab.errors import ConfigError, DataError
from spendlab.measure.mmm.config import MMMConfig


@dataclass(frozen=True)
class Prepared:
    """Arrays the model consumes (scaled) plus what is needed to map back to data units."""

    dates: pd.DatetimeIndex
    period_days: int
    spend: np.ndarray  # (T, C) in data units
    x: np.ndarray  # (T, C) scaled spend
    x_scale: np.ndarray  # (C,)
    y: np.ndarray  # (T,) target in data units
    y_scale: float
    controls: np.ndarray  # (T, K) standardised
    control_mean: np.ndarray
    control_sd: np.ndarray
    events: np.ndarray  # (T, E)
    fourier: np.ndarray  # (T, F)
    t: np.ndarray  # (T,) time in [0, 1] over the fitting data (extrapolates beyond)
    t0: pd.Timestamp
    t_span_days: float
    max_lag: int
    n_train: int
    lift_idx: np.ndarray  # (N, T) 0/1 masks of lift windows
    lift_channel: np.ndarray  # (N,) channel index
    lift_value: np.ndarray  # (N,) scaled incremental
    lift_se: np.ndarray  # (N,) scaled se
    data_hash: str

    @property
    def n_params(self) -> int:
        c = self.x.shape[1]
        return 3 + 3 * c + self.fourier.shape[1] + self.controls.shape[1] + self.events.shape[1]


def data_hash(dates: pd.DatetimeIndex, *arrays: np.ndarray) -> str:
    """SHA-256 of the data as used (ISO dates, then float64 values), stored with each run."""
    h = hashlib.sha256("|".join(dates.strftime("%Y-%m-%d")).encode())
    for arr in arrays:
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()


def fourier_terms(dates: pd.DatetimeIndex, period_days: int, cfg: MMMConfig) -> np.ndarray:
    """Yearly Fourier terms on the day of the year (+ weekly on the weekday for daily data)."""
    cols = []
    doy = (dates.dayofyear.to_numpy() - 1) / 365.25
    for k in range(1, cfg.yearly_order + 1):
        cols += [np.sin(2 * np.pi * k * doy), np.cos(2 * np.pi * k * doy)]
    if period_days == 1:
        dow = dates.dayofweek.to_numpy() / 7.0
        for k in range(1, cfg.weekly_order + 1):
            cols += [np.sin(2 * np.pi * k * dow), np.cos(2 * np.pi * k * dow)]
    return np.column_stack(cols) if cols else np.zeros((len(dates), 0))


def _check_columns(df: pd.DataFrame, cfg: MMMConfig) -> None:
    needed = [cfg.date, cfg.target, *cfg.channels, *cfg.controls, *cfg.events]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ConfigError(
            f"column(s) {missing} not in the data; available: {list(df.columns)}. "
            "Check --date/--target/--channel/--control names"
        )
    for col in needed:
        if col == cfg.date:
            continue
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = vals.isna() & df[col].notna()
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise DataError(
                f"column {col!r} row {i + 1} is not a number (value {df[col].iloc[i]!r}); "
                "clean the column so it holds numbers only"
            )
        if vals.isna().any():
            i = int(np.argmax(vals.isna().to_numpy()))
            raise DataError(
                f"column {col!r} has {int(vals.isna().sum())} missing value(s), first at row "
                f"{i + 1} ({df[cfg.date].iloc[i]}); fill them (0 for spend with no activity) or "
                "drop those periods"
            )


def _dates(df: pd.DataFrame, cfg: MMMConfig) -> tuple[pd.DatetimeIndex, int]:
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(df[cfg.date]))
    except (ValueError, TypeError) as e:
        raise DataError(f"column {cfg.date!r} does not hold dates ({e}); use YYYY-MM-DD") from e
    if dates.isna().any():
        raise DataError(f"column {cfg.date!r} has missing dates; every row needs a date")
    if dates.has_duplicates:
        dup = dates[dates.duplicated()][0].date()
        raise DataError(
            f"date {dup} appears more than once in {cfg.date!r}; aggregate to one row per "
            "period (sum spend and target over geos/campaigns) before fitting"
        )
    if not dates.is_monotonic_increasing:
        raise DataError(f"column {cfg.date!r} is not sorted; sort the rows by date")
    if len(dates) < 2:
        raise DataError("need at least two periods of data")
    diffs = np.diff(dates.to_numpy()).astype("timedelta64[D]").astype(int)
    step = int(np.median(diffs))
    if step not in (1, 7):
        raise DataError(
            f"the data are neither daily nor weekly (median step {step} days); "
            "aggregate to daily or weekly periods"
        )
    gaps = np.flatnonzero(diffs != step)
    if gaps.size:
        i = gaps[0]
        raise DataError(
            f"date gap: {dates[i].date()} is followed by {dates[i + 1].date()} in a "
            f"{'weekly' if step == 7 else 'daily'} series ({gaps.size} gap(s)); add the missing "
            "periods (spend 0 if nothing ran) so carry-over is computed correctly"
        )
    return dates, step


def prepare(df: pd.DataFrame, cfg: MMMConfig, *, warn: bool = True) -> Prepared:
    """Validate ``df`` against ``cfg`` and build the scaled arrays. Raises DataError/ConfigError."""
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise DataError("the data are empty; pass a DataFrame with one row per period")
    _check_columns(df, cfg)
    df = df.reset_index(drop=True)
    dates, step = _dates(df, cfg)
    spend = df[list(cfg.channels)].to_numpy(dtype=float)
    y = df[cfg.target].to_numpy(dtype=float)
    for c, ch in enumerate(cfg.channels):
        col = spend[:, c]
        if (col < 0).any():
            i = int(np.argmax(col < 0))
            raise DataError(
                f"channel {ch!r} has negative spend {col[i]} at {dates[i].date()}; spend must be "
                ">= 0 (refunds belong in a separate adjustment, not in media spend)"
            )
        if not col.any():
            raise DataError(
                f"channel {ch!r} has no spend at all; drop it from --channel (nothing to measure)"
            )
        if np.ptp(col) == 0:
            raise DataError(
                f"channel {ch!r} spends the same {col[0]} every period: its effect cannot be told "
                "apart from the baseline; drop it, or set a prior on its iROAS and add a lift test"
            )
        nz = col[col > 0]
        if warn and nz.size > 1 and nz.std() / nz.mean() < 0.05:
            warnings.warn(
                f"channel {ch!r} barely varies (coefficient of variation "
                f"{nz.std() / nz.mean():.3f}); its iROAS will lean on the prior. Consider an iROAS "
                "prior from a lift test",
                UserWarning,
                stacklevel=3,
            )
    if (y < 0).any() and cfg.nonneg_baseline:
        raise DataError(
            f"target {cfg.target!r} has negative values; a non-negative baseline needs a "
            "non-negative outcome (or pass nonneg_baseline=False)"
        )
    y_scale = float(np.mean(np.abs(y)))
    if y_scale == 0:
        raise DataError(f"target {cfg.target!r} is zero everywhere; nothing to explain")
    x_scale = np.array([spend[spend[:, c] > 0, c].mean() for c in range(spend.shape[1])])
    ctrl = df[list(cfg.controls)].to_numpy(dtype=float).reshape(len(df), -1)
    c_mean, c_sd = ctrl.mean(axis=0), ctrl.std(axis=0)
    for k, name in enumerate(cfg.controls):
        if c_sd[k] == 0:
            raise DataError(f"control {name!r} is constant; drop it (it duplicates the intercept)")
    events = df[list(cfg.events)].to_numpy(dtype=float).reshape(len(df), -1)
    max_lag = cfg.max_lag or (8 if step == 7 else 21)
    n_train = len(df) - cfg.holdout
    if cfg.holdout < 0 or n_train < 2:
        raise ConfigError(f"holdout {cfg.holdout} leaves no data to fit; use fewer periods")
    t_span = max(float((dates[n_train - 1] - dates[0]).days), 1.0)
    t = ((dates - dates[0]).days.to_numpy() / t_span).astype(float)
    prep_lifts = _lifts(cfg, dates, step, y_scale)
    out = Prepared(
        dates=dates,
        period_days=step,
        spend=spend,
        x=spend / x_scale,
        x_scale=x_scale,
        y=y,
        y_scale=y_scale,
        controls=(ctrl - c_mean) / np.where(c_sd == 0, 1.0, c_sd),
        control_mean=c_mean,
        control_sd=c_sd,
        events=events,
        fourier=fourier_terms(dates, step, cfg),
        t=t,
        t0=dates[0],
        t_span_days=t_span,
        max_lag=max_lag,
        n_train=n_train,
        lift_idx=prep_lifts[0],
        lift_channel=prep_lifts[1],
        lift_value=prep_lifts[2],
        lift_se=prep_lifts[3],
        data_hash=data_hash(dates, y, spend, ctrl, events),
    )
    if n_train <= out.n_params:
        raise DataError(
            f"{n_train} periods to fit but the model has about {out.n_params} parameters; "
            "use more history, fewer channels/controls, or a lower yearly_order"
        )
    return out


def _lifts(
    cfg: MMMConfig, dates: pd.DatetimeIndex, step: int, y_scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(cfg.lift_tests)
    idx = np.zeros((n, len(dates)))
    ch = np.zeros(n, dtype=int)
    val = np.zeros(n)
    se = np.zeros(n)
    period_end = dates + pd.Timedelta(days=step - 1)
    for i, lt in enumerate(cfg.lift_tests):
        start, end = pd.Timestamp(lt.start), pd.Timestamp(lt.end)
        if end < start:
            raise ConfigError(f"lift test on {lt.channel!r}: end {lt.end} is before start")
        # a period counts in full when it overlaps the window; weight by the overlapping share
        lo = np.maximum(dates.to_numpy(), start.to_datetime64())
        hi = np.minimum(period_end.to_numpy(), end.to_datetime64())
        overlap = (hi - lo).astype("timedelta64[D]").astype(float) + 1
        w = np.clip(overlap / step, 0.0, 1.0)
        if not w.any():
            raise ConfigError(
                f"lift test on {lt.channel!r} ({lt.start}..{lt.end}) is outside the data "
                f"({dates[0].date()}..{period_end[-1].date()}); drop it or extend the data"
            )
        idx[i] = w
        ch[i] = cfg.channels.index(lt.channel)
        val[i] = lt.incremental / y_scale
        se[i] = lt.standard_error / y_scale
    return idx, ch, val, se
