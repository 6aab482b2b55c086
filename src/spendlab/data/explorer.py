"""The campaign explorer: KPIs by hierarchy level and date range, with the previous period.

Every query runs in the warehouse (Ibis). Files may describe the same spend at several levels
(a campaign report and a keyword report of the same campaign): each day's spend is counted once
by :func:`spendlab.data.spend.count_once` (a row is left out on days when a coarser row of its
own hierarchy exists), the rule every other consumer of spend uses too. Ratios follow the
glossary's zero-denominator policy (:mod:`spendlab.data.metrics`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from spendlab.core.dates import DateRange
from spendlab.data.metrics import metric_ratio
from spendlab.data.spend import counted_rows
from spendlab.data.warehouse import Warehouse
from spendlab.errors import ConfigError

#: Drill-down order of the explorer.
LEVELS: tuple[str, ...] = ("account", "campaign", "ad_group", "keyword")
_KEYS = {
    "account": ("platform", "account_id"),
    "campaign": ("platform", "account_id", "campaign_id"),
    "ad_group": ("platform", "account_id", "campaign_id", "ad_group_id"),
    "keyword": ("platform", "account_id", "campaign_id", "ad_group_id", "keyword_id"),
}
_NAME = {
    "account": "account_name",
    "campaign": "campaign_name",
    "ad_group": "ad_group_name",
    "keyword": "keyword_text",
}
#: Columns a caller may filter on (exact match).
FILTERS: tuple[str, ...] = (
    "platform",
    "account_id",
    "campaign_id",
    "ad_group_id",
    "country",
    "device",
    "business_unit",
    "code",
    "objective",
    "lifecycle_stage",
)
BASE = ("spend", "impressions", "clicks", "conversions", "revenue")
RATIOS = ("ctr", "cpc", "cpm", "cvr", "cpa", "roas")
KPIS = BASE + RATIOS
PRESETS = {
    "last_7_days": "Last 7 days",
    "last_14_days": "Last 14 days",
    "last_30_days": "Last 30 days",
    "last_90_days": "Last 90 days",
    "month_to_date": "Month to date",
    "last_month": "Last month",
    "all": "All data",
}


@dataclass(frozen=True)
class Period:
    current: DateRange
    previous: DateRange | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.current.start.isoformat(),
            "end": self.current.end.isoformat(),
            "previous_start": self.previous.start.isoformat() if self.previous else None,
            "previous_end": self.previous.end.isoformat() if self.previous else None,
        }


def data_range(wh: Warehouse) -> DateRange | None:
    """First and last day with ad delivery, or None for an empty warehouse."""
    t = wh.table("ad_performance")
    row = t.aggregate(lo=t.date.min(), hi=t.date.max()).to_pandas().iloc[0]
    if pd.isna(row["lo"]):
        return None
    return DateRange(pd.Timestamp(row["lo"]).date(), pd.Timestamp(row["hi"]).date())


def resolve_preset(preset: str, last_day: dt.date, first_day: dt.date | None = None) -> DateRange:
    """A preset ending at ``last_day`` (the latest day with data, so demo data from the past
    still shows)."""
    if preset.startswith("last_") and preset.endswith("_days"):
        n = int(preset.split("_")[1])
        return DateRange(last_day - dt.timedelta(days=n - 1), last_day)
    if preset == "month_to_date":
        return DateRange(last_day.replace(day=1), last_day)
    if preset == "last_month":
        end = last_day.replace(day=1) - dt.timedelta(days=1)
        return DateRange(end.replace(day=1), end)
    if preset == "all":
        return DateRange(first_day or last_day, last_day)
    raise ConfigError(f"unknown date preset {preset!r}; use one of {', '.join(PRESETS)}")


def period(rng: DateRange, compare: bool = True) -> Period:
    return Period(rng, rng.previous() if compare else None)


def _check(level: str | None, filters: dict[str, str]) -> None:
    if level is not None and level not in LEVELS:
        raise ConfigError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    bad = sorted(set(filters) - set(FILTERS))
    if bad:
        raise ConfigError(
            f"cannot filter on {', '.join(bad)}; filterable columns: {', '.join(FILTERS)}"
        )


def scoped_rows(wh: Warehouse, level: str, lo: dt.date, hi: dt.date, filters: dict[str, str]):
    """ad_performance rows in [lo, hi] matching ``filters`` that count at ``level``, each day's
    spend once (:func:`spendlab.data.spend.count_once`); ``conversion_value`` is ``revenue``."""
    return counted_rows(wh, level, lo, hi, filters).rename(revenue="conversion_value")


def _with_ratios(t: ir.Table, suffix: str = "") -> dict[str, ir.Value]:
    return {name + suffix: metric_ratio(name, {k: t[k + suffix] for k in BASE}) for name in RATIOS}


def kpi_totals(
    wh: Warehouse, rng: DateRange, filters: dict[str, str] | None = None, compare: bool = True
) -> dict[str, Any]:
    """Totals of every KPI over ``rng`` and the previous period, with relative deltas."""
    filters = dict(filters or {})
    _check(None, filters)
    per = period(rng, compare)
    lo = per.previous.start if per.previous else rng.start
    t = scoped_rows(wh, "account", lo, rng.end, filters)
    cur = (t.date >= rng.start) & (t.date <= rng.end)
    aggs = {}
    for k in BASE:
        aggs[k] = ibis.ifelse(cur, t[k], 0).sum()
        aggs[k + "_prev"] = ibis.ifelse(cur, 0, t[k]).sum()
    g = t.aggregate(**aggs)
    g = g.mutate(**_with_ratios(g), **_with_ratios(g, "_prev"))
    row = g.to_pandas().iloc[0]
    current = {k: _num(row[k]) for k in KPIS}
    previous = {k: _num(row[k + "_prev"]) for k in KPIS} if compare else None
    return {
        "period": per.to_dict(),
        "current": current,
        "previous": previous,
        "delta": {k: _delta(current[k], previous[k]) for k in KPIS} if previous else None,
    }


def kpi_table(
    wh: Warehouse,
    level: str,
    rng: DateRange,
    filters: dict[str, str] | None = None,
    *,
    compare: bool = True,
    sort: str = "spend",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """One page of entities at ``level`` with their KPIs (and ``<kpi>_prev``, ``<kpi>_delta``);
    returns (rows, total number of entities)."""
    filters = dict(filters or {})
    _check(level, filters)
    if sort not in (*KPIS, "name"):
        raise ConfigError(f"cannot sort by {sort!r}; use name or one of {', '.join(KPIS)}")
    per = period(rng, compare)
    lo = per.previous.start if per.previous else rng.start
    t = scoped_rows(wh, level, lo, rng.end, filters)
    cur = (t.date >= rng.start) & (t.date <= rng.end)
    aggs: dict[str, ir.Value] = {"name": t[_NAME[level]].max(), "_rows": cur.sum()}
    for k in BASE:
        aggs[k] = ibis.ifelse(cur, t[k], 0).sum()
        if compare:
            aggs[k + "_prev"] = ibis.ifelse(cur, 0, t[k]).sum()
    g = t.group_by(list(_KEYS[level])).aggregate(**aggs)
    g = g.filter(g._rows > 0).drop("_rows")
    g = g.mutate(**_with_ratios(g))
    if compare:
        g = g.mutate(**_with_ratios(g, "_prev"))
    total = int(g.count().to_pyarrow().as_py())
    key = g[sort].desc(nulls_first=False) if descending else g[sort].asc(nulls_first=False)
    tie = [g[k].asc() for k in _KEYS[level]]
    page = g.order_by([key, *tie]).limit(limit, offset=offset).to_pandas()
    rows = []
    for rec in page.to_dict(orient="records"):
        out = {k: rec[k] for k in _KEYS[level]}
        out["level"] = level
        out["name"] = rec["name"] or rec[_KEYS[level][-1]]
        for k in KPIS:
            out[k] = _num(rec[k])
            if compare:
                out[k + "_prev"] = _num(rec[k + "_prev"])
                out[k + "_delta"] = _delta(out[k], out[k + "_prev"])
        rows.append(out)
    return rows, total


def trend(wh: Warehouse, rng: DateRange, filters: dict[str, str] | None = None) -> pd.DataFrame:
    """Daily spend, platform-reported revenue and conversions over ``rng``; plus the business
    revenue from ``outcomes`` (kpi 'revenue', all geos) when loaded and no filter narrows it."""
    filters = dict(filters or {})
    _check(None, filters)
    t = scoped_rows(wh, "account", rng.start, rng.end, filters)
    daily = (
        t.group_by("date")
        .aggregate(spend=t.spend.sum(), revenue=t.revenue.sum(), conversions=t.conversions.sum())
        .order_by("date")
        .to_pandas()
    )
    days = pd.DataFrame({"date": pd.date_range(rng.start, rng.end, freq="D").date})
    daily["date"] = pd.to_datetime(daily["date"]).dt.date
    out = days.merge(daily, on="date", how="left").fillna(0.0)
    if not filters:
        o = wh.table("outcomes")
        o = o.filter(o.kpi == "revenue", o.date >= rng.start, o.date <= rng.end)
        biz = o.group_by("date").aggregate(business_revenue=o.value.sum()).to_pandas()
        if len(biz):
            biz["date"] = pd.to_datetime(biz["date"]).dt.date
            out = out.merge(biz, on="date", how="left")
    return out


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _delta(cur: float | None, prev: float | None) -> float | None:
    """Relative change (0.25 = +25%); None when there is nothing to compare with."""
    if cur is None or prev is None or prev == 0:
        return None
    return (cur - prev) / abs(prev)
