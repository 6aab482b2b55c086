"""Monitoring: the KPI before and after each executed action (same-length windows), per-rule
effectiveness, actions per day and per weekday (JOT's headline charts)."""

from __future__ import annotations

from datetime import date

import ibis
import pandas as pd

from spendlab.automate import store
from spendlab.automate.rules.features import LEVEL_KEYS, level_filter
from spendlab.automate.store import RuleStore
from spendlab.core.actions import Action, ActionStatus, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.data.warehouse import Warehouse


def kpi_windows(
    wh: Warehouse, items: list[tuple[EntityRef, date]], horizon: int, kpi: str = "spend"
) -> pd.DataFrame:
    """For each (entity, day): the KPI summed over [day - horizon, day - 1] (``before``) and
    [day, day + horizon - 1] (``after``); ratio KPIs (roas, cpa) from the sums."""
    ap = wh.table("ad_performance")
    rows = []
    for ent, day in items:
        lvl = Level(ent.level)
        keys = LEVEL_KEYS.get(lvl, ())
        vals = {
            "platform": ent.platform,
            **{c: getattr(ent, c, "") for c in keys if c != "platform"},
        }
        rows.append(
            {"_i": len(rows), "_day": day, **{c: vals.get(c, "") for c in keys}, "_lvl": lvl}
        )
    out = pd.DataFrame({"before": [float("nan")] * len(rows), "after": [float("nan")] * len(rows)})
    by_level: dict[Level, list[dict]] = {}
    for r in rows:
        by_level.setdefault(r["_lvl"], []).append(r)
    for lvl, rs in by_level.items():
        keys = list(LEVEL_KEYS[lvl])
        m = ibis.memtable(pd.DataFrame([{k: r[k] for k in ["_i", "_day", *keys]} for r in rs]))
        t = ap.filter(level_filter(ap, lvl))
        j = t.inner_join(m, [t[k] == m[k] for k in keys])
        day = m._day.cast("date")
        before = j.date.between(day - ibis.interval(days=horizon), day - ibis.interval(days=1))
        after = j.date.between(day, day + ibis.interval(days=horizon - 1))
        agg = {}
        for name, w in (("before", before), ("after", after)):
            for col in ("spend", "conversion_value", "conversions", "clicks", "impressions"):
                agg[f"{name}_{col}"] = j[col].sum(where=w)
        res = j.group_by("_i").aggregate(**agg).to_pandas().set_index("_i").fillna(0.0)
        for name in ("before", "after"):
            s = res[f"{name}_spend"]
            if kpi == "roas":
                v = res[f"{name}_conversion_value"] / s.where(s != 0)
            elif kpi == "cpa":
                v = s / res[f"{name}_conversions"].where(res[f"{name}_conversions"] != 0)
            else:
                col = {"revenue": "conversion_value"}.get(kpi, kpi)
                v = res[f"{name}_{col}"]
            out.loc[v.index, name] = v.to_numpy()
    return out


def action_effects(
    wh: Warehouse, rs: RuleStore, *, horizon: int = 7, kpi: str = "roas"
) -> pd.DataFrame:
    """One row per executed (or undone) action of the workspace's log ``rs``: id, rule_id,
    as_of, action, kpi_before, kpi_after, change (after - before)."""
    rows = store.select_actions(rs, status=[ActionStatus.EXECUTED.value, ActionStatus.UNDONE.value])
    if not rows:
        return pd.DataFrame(
            columns=["id", "rule_id", "as_of", "action", "kpi_before", "kpi_after", "change"]
        )
    kw = kpi_windows(wh, [(a.entity, a.as_of) for _, a, _ in rows], horizon, kpi)
    return pd.DataFrame(
        {
            "id": [i for i, _, _ in rows],
            "rule_id": [a.rule_id for _, a, _ in rows],
            "as_of": [a.as_of for _, a, _ in rows],
            "action": [a.kind.value for _, a, _ in rows],
            "kpi_before": kw["before"].to_numpy(),
            "kpi_after": kw["after"].to_numpy(),
        }
    ).assign(change=lambda d: d.kpi_after - d.kpi_before)


def rule_effectiveness(effects: pd.DataFrame) -> pd.DataFrame:
    """Per rule: actions, mean KPI before/after, mean change, share of actions that improved."""
    if effects.empty:
        return pd.DataFrame(columns=["rule_id", "actions", "before", "after", "change", "improved"])
    return (
        effects.groupby("rule_id", dropna=False)
        .agg(
            actions=("id", "count"),
            before=("kpi_before", "mean"),
            after=("kpi_after", "mean"),
            change=("change", "mean"),
            improved=("change", lambda c: float((c > 0).mean())),
        )
        .reset_index()
    )


def actions_per_day(acts: list[Action]) -> pd.DataFrame:
    """Counts by day and action kind (columns: day, action, n)."""
    d = pd.DataFrame({"day": [a.as_of for a in acts], "action": [a.kind.value for a in acts]})
    if d.empty:
        return pd.DataFrame(columns=["day", "action", "n"])
    return d.groupby(["day", "action"]).size().rename("n").reset_index()


def actions_per_weekday(acts: list[Action]) -> pd.DataFrame:
    """Counts by weekday (0 = Monday) and action kind."""
    d = actions_per_day(acts)
    if d.empty:
        return pd.DataFrame(columns=["weekday", "action", "n"])
    d["weekday"] = pd.to_datetime(d.day).dt.weekday
    return d.groupby(["weekday", "action"])["n"].sum().reset_index()
