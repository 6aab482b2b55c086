"""Weekly aggregation of a simulated market (weeks start on Monday), for weekly MMM tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from spendlab.data.schema import AD_PERFORMANCE

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
