"""The daily allocator on a workspace: campaign-day history and current budgets from the warehouse.

:func:`allocate_workspace` reads ``ad_performance`` (campaign-day spend and outcome over the
allocator's window, each day's spend counted once across report levels) and ``entities``
(campaign status and daily budget) with Ibis, runs :func:`spendlab.plan.allocator.allocate_day`
and returns the allocation with its budget-change actions.

Campaigns allocated: those with rows in the window whose ``entities`` row is enabled (or that have
no ``entities`` row); paused and removed campaigns are left alone. Current budget: the ``entities``
budget, else the campaign's spend on its last day with data.

:func:`allocate_and_log` is the use case the CLI (``spendlab plan allocate``) and the scheduler
call: allocate a day on a :class:`~spendlab.workspace.Workspace` and log the budget changes as
proposed actions in its action log, once per day. The action log is automation's
(:mod:`spendlab.automate.store`: approve, reject, undo and the connectors work on it), so the
planning layer sits above automation in the import-linter layers (pyproject.toml): planning may
write to the log and read its queue, automation never imports planning. That keeps this use case
in one place instead of splitting "allocate" and "log" between every caller.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spendlab.core.actions import Action, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.data.spend import counted_rows
from spendlab.data.warehouse import Warehouse
from spendlab.errors import ConfigError, DataError
from spendlab.plan.allocator import (
    RULE_ID,
    AllocatorConfig,
    DailyAllocation,
    allocate_day,
    budget_actions,
)

if TYPE_CHECKING:
    from spendlab.workspace import Workspace

KPIS = {"revenue": "revenue", "conversions": "conversions"}
GROUP_COLUMNS = ("platform", "account_id", "objective", "lifecycle_stage", "business_unit", "code")
KEYS = ("platform", "account_id", "campaign_id")


@dataclass
class WorkspaceAllocation:
    """An allocation for ``as_of`` with its actions (``run_id`` shared by them)."""

    as_of: date
    kpi: str
    run_id: str
    allocation: DailyAllocation
    actions: list[Action]

    def to_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "kpi": self.kpi,
            "run_id": self.run_id,
            **self.allocation.to_dict(),
            "actions": [a.to_dict() for a in self.actions],
        }


def campaign_days(
    wh: Warehouse, as_of: date, window: int, kpi: str, group_by: tuple[str, ...]
) -> pd.DataFrame:
    """Campaign x day spend and outcome for the ``window`` days before ``as_of``.

    Columns: platform, account_id, campaign_id, id ("platform:account:campaign"), group, date,
    spend, outcome.
    """
    if kpi not in KPIS:
        raise ConfigError(f"kpi must be one of {', '.join(KPIS)}, got {kpi!r}")
    bad = [c for c in group_by if c not in GROUP_COLUMNS]
    if bad or not group_by:
        raise ConfigError(f"group_by columns must come from {', '.join(GROUP_COLUMNS)}; got {bad}")
    lo, hi = as_of - timedelta(days=window), as_of - timedelta(days=1)
    t = counted_rows(wh, "campaign", lo, hi).rename(revenue="conversion_value")
    t = t.filter(t.campaign_id != "")
    g = t.group_by([t.date, *(t[k] for k in KEYS)]).aggregate(
        spend=t.spend.sum(),
        outcome=t[KPIS[kpi]].sum(),
        **{f"g_{c}": t[c].max() for c in group_by if c not in KEYS},
    )
    df = g.order_by([*KEYS, "date"]).to_pandas()
    if df.empty:
        first = wh.table("ad_performance").date.min().to_pandas()
        when = (
            "no ad_performance rows at all"
            if first is None or pd.isna(first)
            else f"data starts {pd.Timestamp(first).date()}"
        )
        raise DataError(
            f"no campaign rows in ad_performance in the {window} days before {as_of} ({when}); "
            "pick a later --date or load data first"
        )
    df["date"] = pd.to_datetime(df["date"])
    for c in ("spend", "outcome"):
        df[c] = df[c].astype(float).fillna(0.0)
    parts = [df[c].fillna("").astype(str) for c in group_by if c in KEYS] + [
        df[f"g_{c}"].fillna("").astype(str) for c in group_by if c not in KEYS
    ]
    df["group"] = parts[0].str.cat(parts[1:], sep="/") if len(parts) > 1 else parts[0]
    df["id"] = df["platform"] + ":" + df["account_id"] + ":" + df["campaign_id"]
    return df[[*KEYS, "id", "group", "date", "spend", "outcome"]]


def current_budgets(wh: Warehouse, days: pd.DataFrame) -> tuple[pd.Series, dict[str, EntityRef]]:
    """Current budget per campaign (``entities``, else last day's spend) and entity references;
    paused and removed campaigns are dropped."""
    last = days.sort_values("date").groupby("id", sort=False).tail(1).set_index("id")
    e = wh.table("entities")
    e = e.filter(e.level == Level.CAMPAIGN.value).select(*KEYS, "status", "budget")
    ents = e.to_pandas()
    ents["id"] = ents["platform"] + ":" + ents["account_id"] + ":" + ents["campaign_id"]
    ents = ents.drop_duplicates("id").set_index("id")
    ids = [i for i in last.index if i not in ents.index or ents.at[i, "status"] == "enabled"]
    budget = ents["budget"].reindex(ids).astype(float)
    cur = budget.where(budget.notna(), last.loc[ids, "spend"].astype(float))
    refs = {
        i: EntityRef(
            platform=str(last.at[i, "platform"]),
            level=Level.CAMPAIGN,
            account_id=str(last.at[i, "account_id"]),
            campaign_id=str(last.at[i, "campaign_id"]),
        )
        for i in ids
    }
    return cur.rename("budget"), refs


def allocate_workspace(
    wh: Warehouse,
    as_of: date,
    *,
    budget: float | None = None,
    config: AllocatorConfig | None = None,
    seed: int = 0,
    kpi: str = "revenue",
    group_by: tuple[str, ...] = ("platform",),
) -> WorkspaceAllocation:
    """Allocate the budgets of ``as_of`` from the data before it (see the module docstring)."""
    cfg = config or AllocatorConfig()
    if budget is not None and not (np.isfinite(budget) and budget > 0):
        raise ConfigError(f"--budget must be > 0, got {budget}")
    days = campaign_days(wh, as_of, cfg.window, kpi, group_by)
    cur, refs = current_budgets(wh, days)
    if cur.empty:
        raise DataError(
            f"every campaign with data before {as_of} is paused or removed in `entities`; "
            "nothing to allocate"
        )
    hist = days[days["id"].isin(cur.index)]
    alloc = allocate_day(hist, cur, budget, config=cfg, seed=seed)
    run_id = f"{as_of:%Y%m%d}-allocator-{uuid.uuid4().hex[:8]}"
    acts = budget_actions(alloc, refs, as_of, run_id=run_id)
    return WorkspaceAllocation(as_of, kpi, run_id, alloc, acts)


def allocate_and_log(
    ws: Workspace,
    as_of: date,
    *,
    budget: float | None = None,
    config: AllocatorConfig | None = None,
    seed: int = 0,
    kpi: str = "revenue",
    group_by: tuple[str, ...] = ("platform",),
    dry_run: bool = False,
) -> dict[str, Any]:
    """Allocate ``as_of``'s budgets on ``ws`` (:func:`allocate_workspace`, reading the warehouse
    only while it computes) and, unless ``dry_run``, log the budget changes in the workspace's
    action log as proposed actions (approve them with ``spendlab rules approve``). A day the
    allocator already logged is not logged twice (a note says so).

    Returns :meth:`WorkspaceAllocation.to_dict` plus ``logged`` (the ids of the logged actions,
    in the order of ``actions``; each logged action also carries its ``action_id``).
    """
    from spendlab.automate.store import RuleStore, log_actions, select_actions

    with ws.warehouse() as wh:  # read-write like a server's blocks (see plan/service.py)
        res = allocate_workspace(
            wh, as_of, budget=budget, config=config, seed=seed, kpi=kpi, group_by=group_by
        )
    payload: dict[str, Any] = res.to_dict()
    payload["logged"] = []
    if not dry_run:
        rs = RuleStore.of(ws)
        if select_actions(rs, rule_id=RULE_ID, as_of=as_of):
            payload["notes"].append(
                f"the allocator already logged actions for {as_of}; nothing new was logged"
            )
        else:
            payload["logged"] = log_actions(rs, res.actions)
    for d, i in zip(payload["actions"], payload["logged"], strict=False):
        d["action_id"] = i
    return payload
