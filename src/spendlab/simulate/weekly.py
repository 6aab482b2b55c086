"""Weekly aggregation of a simulated market (weeks start on Monday), for weekly MMM tests, and
lift tests measured on it (:func:`lift_tests`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spendlab.data.schema import AD_PERFORMANCE
from spendlab.errors import ConfigError

if TYPE_CHECKING:
    from spendlab.simulate.simulation import Market

AD_SUMS = ("impressions", "clicks", "spend", "conversions", "conversion_value")


def week_start(dates: pd.Series) -> pd.Series:
    """The Monday of each date's week."""
    d = pd.to_datetime(dates)
    return (d - pd.to_timedelta(d.dt.weekday, unit="D")).dt.normalize()


def _complete(df: pd.DataFrame, market: Market) -> pd.DataFrame:
    first, last = market.dates[0], market.dates[-1]
    lo = first if first.weekday() == 0 else first + pd.Timedelta(days=7 - first.weekday())
    hi = last - pd.Timedelta(days=last.weekday())  # Monday of the last week
    if last.weekday() != 6:
        hi = hi - pd.Timedelta(days=7)
    return df[(df["date"] >= lo) & (df["date"] <= hi)].reset_index(drop=True)


def to_weekly(market: Market, complete_weeks: bool = True) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    ap = market.frames["ad_performance"].copy()
    ap["date"] = week_start(ap["date"])
    keys = [c for c in AD_PERFORMANCE.names if c in ap.columns and c not in AD_SUMS]
    out["ad_performance"] = (
        ap.groupby(keys, sort=True, dropna=False)[list(AD_SUMS)].sum().reset_index()
    )
    for name, how, key in (("outcomes", "sum", "kpi"), ("controls", "mean", "name")):
        df = market.frames[name].copy()
        df["date"] = week_start(df["date"])
        out[name] = df.groupby(["date", "geo", key], sort=True)["value"].agg(how).reset_index()
    comp = market.components()
    comp["date"] = week_start(comp["date"])
    out["components"] = (
        comp.groupby(["date", "geo"], sort=True).sum(numeric_only=True).reset_index()
    )
    if complete_weeks:
        out = {k: _complete(v, market) for k, v in out.items()}
    return out


MMM_CONTROLS = ("price", "promotion", "competitor_spend", "macro_index")


def mmm_weekly(market: Market) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """One national row per complete week (Monday dates) for a marketing-mix model: ``date``,
    ``revenue`` (summed over geos), one spend column per channel (``channel`` of the campaigns),
    the controls (weekly means: price, promotion, competitor_spend, macro_index), ``holiday``
    (holiday days in the week) and one ``event_<name>`` column per retail event in the calendar
    (days of the week inside the event's window, its ramp-up days included: what an analyst's
    holiday calendar with a lead window gives; see :func:`event_columns`); and the truth per
    channel over those weeks: ``spend``, ``contribution`` and ``iroas`` (contribution / spend)."""
    import numpy as np

    days = market.dates
    chan = market.catalog.table["channel"].to_numpy()
    cols: dict[str, np.ndarray] = {"revenue": market.outcome.revenue.sum(axis=0)}
    names = list(dict.fromkeys(chan))
    for ch in names:
        cols[ch] = market.spend[chan == ch].sum(axis=0)
        cols[f"__contrib_{ch}"] = market.contributions[chan == ch].sum(axis=0)
    for k in MMM_CONTROLS:
        cols[k] = np.asarray(market.outcome.control_values[k]).mean(axis=0)
    cols["holiday"] = np.asarray(market.shape.holiday_indicator, dtype=float)
    start = np.datetime64(pd.Timestamp(days[0]).date(), "D")
    for ev in market.shape.events:
        col = cols.setdefault(f"event_{ev['name']}", np.zeros(len(days)))
        d0 = int((np.datetime64(ev["date"], "D") - start).astype(int))
        col[max(d0 - int(ev["ramp_days"]), 0) : max(d0 + int(ev["days"]), 0)] = 1.0
    daily = pd.DataFrame(cols)
    daily["date"] = week_start(pd.Series(days)).to_numpy()
    events = [k for k in cols if k.startswith("event_")]
    how = {k: ("mean" if k in MMM_CONTROLS else "sum") for k in cols}
    weekly = daily.groupby("date").agg(how)
    weekly["__n"] = daily.groupby("date").size()
    weekly = weekly[weekly["__n"] == 7].reset_index()
    truth = {}
    for ch in names:
        sp, co = float(weekly[ch].sum()), float(weekly[f"__contrib_{ch}"].sum())
        truth[ch] = {"spend": sp, "contribution": co, "iroas": co / sp if sp > 0 else float("nan")}
    keep = ["date", "revenue", *names, *MMM_CONTROLS, "holiday", *events]
    return weekly[keep], truth


def event_columns(df: pd.DataFrame) -> tuple[str, ...]:
    """The per-event columns (``event_<name>``) of an :func:`mmm_weekly` frame."""
    return tuple(c for c in df.columns if c.startswith("event_"))


def lift_tests(
    market: Market,
    channel: str,
    windows: Sequence[tuple[str, str]],
    se_rel: float = 0.07,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Lift tests of one media ``channel`` as an experiment would report them, for calibrating an
    MMM: one dict per ``(start, end)`` window (inclusive ISO dates; align them to whole weeks,
    Monday..Sunday, for a weekly model) with ``channel``, ``start``, ``end``, ``incremental`` and
    ``standard_error`` (the fields of ``spendlab.measure.mmm.LiftTest``).

    The truth is the channel's contribution summed over the window's days (every campaign whose
    ``channel`` it is, all geos): what the channel's spend adds in the window, carry-over from
    earlier spend included, which is the quantity an MMM's lift likelihood compares with. The
    measurement is ``true x (1 + se_rel x N(0, 1))`` (a ``default_rng(seed)`` draw per window, in
    order) and ``standard_error = se_rel x true``. ``MMMConfig(lift_tests=...)`` takes the dicts
    as they are.
    """
    chan = market.catalog.table["channel"].to_numpy()
    if channel not in set(chan):
        raise ConfigError(
            f"no campaigns of channel {channel!r}; channels: {', '.join(dict.fromkeys(chan))}"
        )
    if not se_rel > 0:
        raise ConfigError(f"se_rel must be > 0 (relative standard error, e.g. 0.07), got {se_rel}")
    daily = market.contributions[chan == channel].sum(axis=0)
    days = market.dates
    rng = np.random.default_rng(seed)
    out = []
    for start, end in windows:
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        inside = (days >= lo) & (days <= hi)
        if hi < lo or not inside.any():
            raise ConfigError(
                f"lift window {start}..{end} is empty or outside the market "
                f"({days[0].date()}..{days[-1].date()}); give start <= end inside it"
            )
        true = float(daily[inside].sum())
        if not true > 0:
            raise ConfigError(
                f"channel {channel!r} has no effect in {start}..{end} (dark or not running); "
                "pick a window where it spends"
            )
        out.append(
            {
                "channel": channel,
                "start": str(lo.date()),
                "end": str(hi.date()),
                "incremental": true * (1.0 + se_rel * float(rng.standard_normal())),
                "standard_error": se_rel * true,
            }
        )
    return out
