"""The MMM input frame from a workspace's canonical tables (aggregated in the warehouse by Ibis).

    from spendlab.measure.mmm.workspace import build_input
    with Warehouse.open(path, read_only=True) as wh:
        inp = build_input(wh)                       # revenue, daily or weekly, channel = platform
    mmm = MMM(inp.config(fast=True)).fit(inp.frame)

- **Spend** per channel and period from ``ad_performance``; a channel is the value of
  ``channel_by`` (``platform`` by default; any text column of the table, e.g. ``account_name``,
  ``business_unit``, ``objective``), optionally renamed or merged with ``channel_map``. Spend
  reported at several levels (a campaign report and a keyword report of the same campaign) is
  counted once by :func:`spendlab.data.spend.count_once`: a row is left out on days a coarser
  row of its hierarchy exists.
- **Target** from ``outcomes``: the KPI ``kpi`` (``revenue``, else ``conversions`` when not
  given); ``national`` rows when there are any, else the sum over geos.
- **Controls** from ``controls``, one column per name (``national`` rows, else the mean over
  geos); constant ones are left out with a note (they duplicate the intercept).
- **Frequency**: ``weekly`` sums days into weeks starting on Monday (partial weeks at either end
  are dropped); ``daily`` keeps days; ``auto`` follows the outcomes (weekly when they are).
- **Period**: where outcomes and spend overlap (optionally cut by ``start``/``end``); a day
  without any ad row there counts as zero spend.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd

from spendlab.data.schema import AD_PERFORMANCE
from spendlab.data.spend import counted_rows
from spendlab.errors import ConfigError, DataError

Frequency = Literal["auto", "daily", "weekly"]
DATE = "date"
#: text columns of ``ad_performance`` a channel can be defined by
CHANNEL_COLUMNS = tuple(
    c.name
    for c in AD_PERFORMANCE.columns
    if c.dtype == "string"
    and not c.name.endswith("_id")
    and c.name not in ("currency", "level", "country", "device", "match_type", "keyword_text")
)


@dataclass(frozen=True)
class MMMInput:
    """One row per period: ``date``, the target, one spend column per channel, the controls."""

    frame: pd.DataFrame
    target: str
    channels: tuple[str, ...]
    controls: tuple[str, ...]
    frequency: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def config(self, **kw: Any) -> Any:
        """An :class:`MMMConfig` for this frame; ``kw`` sets the other options (fast, draws...)."""
        from spendlab.measure.mmm.config import MMMConfig  # imports JAX: only when fitting

        return MMMConfig(date=DATE, target=self.target, channels=self.channels,
                         controls=self.controls, **kw)  # fmt: skip

    def describe(self) -> dict[str, Any]:
        f = self.frame
        return {
            "target": self.target,
            "channels": list(self.channels),
            "controls": list(self.controls),
            "frequency": self.frequency,
            "periods": len(f),
            "start": f[DATE].min().date().isoformat() if len(f) else None,
            "end": f[DATE].max().date().isoformat() if len(f) else None,
            "notes": list(self.notes),
        }


def _empty(wh: Any, name: str, what: str) -> DataError:
    return DataError(
        f"the workspace's {name!r} table is empty: the marketing-mix model needs {what}. Load it "
        f"with `spendlab ingest FILE --workspace {wh.root}` (or on the Data page)"
    )


def _day(col: Any) -> Any:
    return col.cast("date")


def _geo_rows(t: Any) -> Any:
    """``national`` rows when there are any, else every geo (summed or averaged by the caller)."""
    has_national = int(t.filter(t.geo == "national").count().execute()) > 0
    return t.filter(t.geo == "national") if has_national else t


def _pick_kpi(wh: Any, kpi: str | None) -> tuple[Any, str]:
    out = wh.table("outcomes")
    kpis = sorted(out.kpi.name("kpi").as_table().distinct().to_pandas()["kpi"])
    if not kpis:
        raise _empty(wh, "outcomes", "the business outcome per period (revenue or conversions)")
    if kpi is None:
        kpi = next((k for k in ("revenue", "conversions") if k in kpis), None)
        if kpi is None:
            raise ConfigError(f"no 'revenue' or 'conversions' KPI in outcomes; name one of {kpis}")
    elif kpi not in kpis:
        raise ConfigError(f"KPI {kpi!r} is not in the outcomes table; it has {kpis}")
    return out.filter(out.kpi == kpi), kpi


def _step(days: pd.Series) -> int:
    d = np.sort(pd.to_datetime(days.unique()).to_numpy().astype("datetime64[D]").astype(np.int64))
    return int(np.median(np.diff(d))) if d.size > 1 else 1


def build_input(
    wh: Any,
    *,
    kpi: str | None = None,
    frequency: Frequency = "auto",
    channel_by: str = "platform",
    channel_map: dict[str, str] | None = None,
    channels: list[str] | tuple[str, ...] | None = None,
    controls: list[str] | tuple[str, ...] | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
) -> MMMInput:
    """Build the MMM frame from ``wh`` (a :class:`~spendlab.data.warehouse.Warehouse`).

    ``channels`` keeps only those channels (default: every channel with spend); ``controls``
    keeps only those control names (default: every non-constant one; ``[]`` for none)."""
    if channel_by not in CHANNEL_COLUMNS:
        raise ConfigError(
            f"channel_by {channel_by!r} is not a text column of ad_performance; use one of "
            f"{list(CHANNEL_COLUMNS)}"
        )
    if frequency not in ("auto", "daily", "weekly"):
        raise ConfigError(f"frequency {frequency!r} is unknown; use auto, daily or weekly")
    out, kpi = _pick_kpi(wh, kpi)
    out = _geo_rows(out)
    y = out.group_by(day=_day(out.date)).aggregate(value=out.value.sum()).to_pandas()
    y["day"] = pd.to_datetime(y["day"])
    weekly_outcomes = _step(y["day"]) == 7
    if weekly_outcomes and frequency == "daily":
        raise ConfigError("the outcomes are weekly; a daily model needs daily outcomes "
                          "(use frequency='weekly')")  # fmt: skip
    freq = "weekly" if weekly_outcomes or frequency == "weekly" else "daily"
    ap = wh.table("ad_performance")
    if int(ap.count().execute()) == 0:
        raise _empty(wh, "ad_performance", "media spend per day")
    a_rng = ap.aggregate(lo=_day(ap.date).min(), hi=_day(ap.date).max()).to_pandas().iloc[0]
    a_lo, a_hi = pd.Timestamp(a_rng["lo"]), pd.Timestamp(a_rng["hi"])
    span = pd.Timedelta(days=6 if weekly_outcomes else 0)  # an outcome row covers this much
    keep = (y["day"] >= a_lo) & (y["day"] + span <= a_hi)
    if start is not None:
        keep &= y["day"] >= pd.Timestamp(start)
    if end is not None:
        keep &= y["day"] + span <= pd.Timestamp(end)
    if not keep.any():
        raise DataError(
            f"outcomes ({y['day'].min().date()}..{y['day'].max().date()}) and ad spend "
            f"({a_lo.date()}..{a_hi.date()}) do not overlap"
            f"{' in the chosen start/end' if start or end else ''}; load outcomes and spend for "
            "the same period"
        )
    y = y[keep].sort_values("day").reset_index(drop=True)
    lo, hi = y["day"].min().date(), (y["day"].max() + span).date()

    def within(t: Any) -> Any:
        return t.filter(_day(t.date).between(lo, hi))

    # each day's spend counted once across report levels (the one rule, data/spend.py)
    media = counted_rows(wh, "account", lo, hi)
    chan = ibis.coalesce(media[channel_by].nullif(""), ibis.literal("(none)"))
    spend = (
        media.group_by(day=_day(media.date), channel=chan)
        .aggregate(spend=media.spend.sum())
        .to_pandas()
    )
    if channel_map:
        spend["channel"] = spend["channel"].map(lambda c: channel_map.get(c, c))
    ct = wh.table("controls")
    if int(ct.count().execute()):
        ct = within(_geo_rows(ct))
        ctrl = ct.group_by(day=_day(ct.date), name=ct.name).aggregate(value=ct.value.mean())
        ctrl = ctrl.to_pandas()
    else:
        ctrl = pd.DataFrame({"day": [], "name": [], "value": []})
    return _assemble(y, spend, ctrl, kpi, freq, weekly_outcomes, channels, controls, channel_by)


def _assemble(y, spend, ctrl, kpi, freq, weekly_outcomes, channels, controls, channel_by):
    notes: list[str] = []
    first = y["day"].min()
    last = y["day"].max() + pd.Timedelta(days=6 if weekly_outcomes else 0)
    days = pd.date_range(first, last, freq="D")
    if not weekly_outcomes:
        missing = days.difference(pd.DatetimeIndex(y["day"]))
        if len(missing):
            raise DataError(
                f"outcomes has no {kpi!r} value for {len(missing)} day(s) between "
                f"{days[0].date()} and {days[-1].date()}, first {missing[0].date()}; load the "
                "missing days"
            )
    spend["day"] = pd.to_datetime(spend["day"])
    wide = spend.pivot_table(index="day", columns="channel", values="spend", aggfunc="sum")
    # sums in the warehouse run in parallel, so their last bits vary between runs: round to a
    # millionth of the currency so the same data always give the same frame (and data hash)
    wide = wide.reindex(days).fillna(0.0).round(6)
    y = y.assign(value=y["value"].round(6))
    totals = wide.sum()
    found = [str(c) for c in totals.index[totals > 0]]
    if channels:
        unknown = [c for c in channels if c not in wide.columns]
        if unknown:
            raise ConfigError(
                f"channel(s) {unknown} not found in ad_performance by {channel_by!r}; channels "
                f"with spend: {found}"
            )
        chans = list(channels)
    else:
        chans = found
        if not chans:
            raise DataError("ad_performance has no spend in the period; nothing to measure")
    clash = [c for c in chans if c in (DATE, kpi)]
    if clash:
        raise ConfigError(f"channel name(s) {clash} clash with the date/target columns; rename "
                          "them with channel_map")  # fmt: skip
    daily = pd.DataFrame({DATE: days}).join(wide[chans].reset_index(drop=True))
    names = sorted(ctrl["name"].unique()) if len(ctrl) else []
    if controls is not None:
        unknown = [c for c in controls if c not in names]
        if unknown:
            raise ConfigError(f"control(s) {unknown} not in the controls table; it has {names}")
        names = list(controls)
    if names:
        ctrl = ctrl.assign(day=pd.to_datetime(ctrl["day"]))
        cw = ctrl.pivot_table(index="day", columns="name", values="value", aggfunc="mean")
        cw = cw.reindex(pd.DatetimeIndex(y["day"]) if weekly_outcomes else days)[names]
        for name in names:
            gaps = cw.index[cw[name].isna()]
            if len(gaps):
                raise DataError(
                    f"control {name!r} has no value on {len(gaps)} "
                    f"{'week' if weekly_outcomes else 'day'}(s), first {gaps[0].date()}; load "
                    "them or leave the control out (controls=[...])"
                )
    if freq == "daily":
        frame = daily.assign(**{kpi: y.set_index("day")["value"].reindex(days).to_numpy()})
        for name in names:
            frame[name] = cw[name].to_numpy()
    elif weekly_outcomes:  # weeks start on the outcomes' own dates
        week = first + 7 * ((daily[DATE] - first).dt.days // 7) * pd.Timedelta(days=1)
        frame = daily.groupby(week.to_numpy())[chans].sum().rename_axis(DATE).reset_index()
        frame[kpi] = y.set_index("day")["value"].reindex(frame[DATE]).to_numpy()
        for name in names:
            frame[name] = cw[name].reindex(frame[DATE]).to_numpy()
    else:  # daily outcomes summed into weeks starting on Monday; partial weeks dropped
        daily[kpi] = y.set_index("day")["value"].reindex(days).to_numpy()
        for name in names:
            daily[name] = cw[name].to_numpy()
        week = daily[DATE] - pd.to_timedelta(daily[DATE].dt.dayofweek, unit="D")
        g = daily.groupby(week.to_numpy())
        frame = g[[kpi, *chans]].sum().join(g[names].mean()) if names else g[[kpi, *chans]].sum()
        full = (g.size() == 7).to_numpy()
        if (~full).any():
            notes.append(f"dropped {int((~full).sum())} partial week(s) at the ends of the period")
        frame = frame[full].rename_axis(DATE).reset_index()
    used = []
    for name in names:
        if frame[name].nunique() <= 1:
            notes.append(f"control {name!r} is constant over the period; left out")
        else:
            used.append(name)
    frame = frame[[DATE, kpi, *chans, *used]].reset_index(drop=True)
    return MMMInput(frame, kpi, tuple(chans), tuple(used), freq, tuple(notes))


def channel_members(
    wh: Any, channel_by: str = "platform", channel_map: dict[str, str] | None = None
) -> dict[str, list[str]]:
    """The campaign ids behind each channel of :func:`build_input` (same ``channel_by`` and
    ``channel_map``), so planning can read a channel's current spend from the warehouse."""
    if channel_by not in CHANNEL_COLUMNS:
        raise ConfigError(f"channel_by {channel_by!r} is not one of {list(CHANNEL_COLUMNS)}")
    ap = wh.table("ad_performance")
    ap = ap.filter(ap.campaign_id != "")
    chan = ibis.coalesce(ap[channel_by].nullif(""), ibis.literal("(none)"))
    pairs = ap.select(channel=chan, campaign_id=ap.campaign_id).distinct().to_pandas()
    if channel_map:
        pairs["channel"] = pairs["channel"].map(lambda c: channel_map.get(c, c))
    return {
        str(ch): sorted(map(str, g["campaign_id"])) for ch, g in pairs.groupby("channel", sort=True)
    }
