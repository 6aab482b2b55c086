"""Monitoring: before/after windows per executed action agree with a direct pandas sum."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import sqlalchemy as sa

from spendlab.automate import plots, store
from spendlab.automate.monitor import (
    action_effects,
    actions_per_day,
    actions_per_weekday,
    rule_effectiveness,
)
from spendlab.automate.pipeline import run_rules
from spendlab.automate.rules import parse_rules
from spendlab.data.ingest import ingest_frames

from .conftest import AS_OF, market_frames


def test_before_after_and_charts(workspace, tmp_path):
    ap, ents = market_frames()
    ingest_frames(workspace, {"ad_performance": ap, "entities": ents})
    engine = sa.create_engine(f"sqlite:///{tmp_path / 's.db'}")
    store.create_all(engine)
    rs = store.RuleStore(engine, "ws")
    rules = parse_rules([{
        "id": "budget", "scope": {"level": "campaign"},
        "conditions": {"kpi": "spend", "window": {"days": 7}, "op": ">", "value": 50},
        "action": {"type": "budget", "value": 5}}])  # fmt: skip
    res = run_rules(workspace, rules, AS_OF, mode="auto", rs=rs)
    eff = action_effects(workspace, rs, horizon=5, kpi="spend")
    assert len(eff) == len([a for a in res.actions if a.status.value == "executed"]) > 0
    a = res.actions[0]
    d = workspace.table("ad_performance").to_pandas()
    d = d[d.campaign_id == a.entity.campaign_id]
    lo, mid, hi = (pd.Timestamp(AS_OF + timedelta(days=k)) for k in (-5, 0, 5))
    before = d[(d.date >= lo) & (d.date < mid)].spend.sum()
    after = d[(d.date >= mid) & (d.date < hi)].spend.sum()
    row = eff[eff.id == res.action_ids[0]].iloc[0]
    assert abs(row.kpi_before - before) < 1e-6 and abs(row.kpi_after - after) < 1e-6
    summary = rule_effectiveness(eff)
    assert summary.actions.sum() == len(eff)
    acts = [x for x in res.actions if x.status.value == "executed"]
    per_day = actions_per_day(acts)
    per_wd = actions_per_weekday(acts)
    assert per_day.n.sum() == per_wd.n.sum() == len(acts)
    assert per_wd.weekday.unique().tolist() == [AS_OF.weekday()]
    for fig in (
        plots.actions_per_day_figure(per_day),
        plots.actions_per_weekday_figure(per_wd),
        plots.effectiveness_figure(summary, "spend"),
        plots.before_after_figure(eff, "spend"),
    ):
        assert fig.data
