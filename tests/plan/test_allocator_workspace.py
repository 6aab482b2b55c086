"""The allocator on a workspace: campaign-day history read once per day, budgets from entities."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from spendlab.core.dates import DateRange
from spendlab.data.explorer import kpi_totals
from spendlab.data.ingest import ingest_frames
from spendlab.data.warehouse import Warehouse
from spendlab.errors import ConfigError
from spendlab.plan.daily import allocate_workspace, campaign_days, current_budgets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from automate.conftest import AS_OF, market_frames


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    ap, ents = market_frames()
    w = Warehouse.init(tmp_path_factory.mktemp("alloc") / "ws")
    ingest_frames(w, {"ad_performance": ap, "entities": ents})
    yield w, ents
    w.close()


def test_campaign_days_count_each_days_spend_once(wh) -> None:
    w, _ = wh
    days = campaign_days(w, AS_OF, 28, "revenue", ("platform",))
    assert days["date"].max().date() == AS_OF - timedelta(days=1)
    assert days["date"].min().date() == AS_OF - timedelta(days=28)
    assert not days.duplicated(["id", "date"]).any()
    tot = kpi_totals(w, DateRange(AS_OF - timedelta(days=28), AS_OF - timedelta(days=1)))
    assert days["spend"].sum() == pytest.approx(tot["current"]["spend"], rel=1e-9)
    assert days["outcome"].sum() == pytest.approx(tot["current"]["revenue"], rel=1e-9)
    assert set(days["group"]) == set(days["platform"])
    with pytest.raises(ConfigError, match="group_by"):
        campaign_days(w, AS_OF, 28, "revenue", ("campaign_name",))


def test_budgets_from_entities_and_paused_campaigns_left_alone(wh) -> None:
    w, ents = wh
    days = campaign_days(w, AS_OF, 56, "revenue", ("platform",))
    cur, refs = current_budgets(w, days)
    camp = ents[ents.level == "campaign"]
    enabled = camp[camp.status == "enabled"]
    assert set(refs) == set(cur.index)
    for _, e in enabled.iterrows():
        key = f"{e.platform}:{e.account_id}:{e.campaign_id}"
        if key in cur.index:
            assert cur[key] == pytest.approx(e.budget)
    off = camp[camp.status != "enabled"]
    assert not {f"{e.platform}:{e.account_id}:{e.campaign_id}" for _, e in off.iterrows()} & set(
        cur.index
    )
    res = allocate_workspace(w, AS_OF, seed=1)
    assert {a.entity.campaign_id for a in res.actions} <= {r.campaign_id for r in refs.values()}
    assert res.allocation.frame["new"].sum() == pytest.approx(cur.sum(), abs=0.01)
    assert date.fromisoformat(res.to_dict()["as_of"]) == AS_OF


def test_allocate_and_log_logs_once_in_the_workspace_store(tmp_path) -> None:
    """The use case the CLI and the scheduler run: a dry run logs nothing; a run logs every
    budget change as proposed in the workspace's own action log (keyed by its id, so it moves
    with the folder); a second run of the day logs nothing and says so."""
    import shutil

    from spendlab.automate.store import RuleStore, select_actions
    from spendlab.plan.allocator import AllocatorConfig
    from spendlab.plan.daily import allocate_and_log
    from spendlab.workspace import Workspace

    ap, ents = market_frames()
    with Warehouse.init(tmp_path / "ws") as w:
        ingest_frames(w, {"ad_performance": ap, "entities": ents})
    ws = Workspace.open(tmp_path / "ws")
    cfg = AllocatorConfig(max_change=0.15)
    dry = allocate_and_log(ws, AS_OF, config=cfg, seed=3, dry_run=True)
    assert dry["logged"] == [] and dry["actions"]
    assert select_actions(RuleStore.of(ws)) == []
    done = allocate_and_log(ws, AS_OF, config=cfg, seed=3)
    assert [a["new_value"] for a in done["actions"]] == [a["new_value"] for a in dry["actions"]]
    log = select_actions(RuleStore.of(ws), rule_id="allocator", as_of=AS_OF)
    assert [i for i, _, _ in log] == done["logged"] == [a["action_id"] for a in done["actions"]]
    assert {a.status.value for _, a, _ in log} == {"proposed"}
    assert {row["workspace"] for _, _, row in log} == {ws.id}
    again = allocate_and_log(ws, AS_OF, config=cfg, seed=3)
    assert again["logged"] == [] and "already logged" in again["notes"][-1]
    shutil.move(tmp_path / "ws", tmp_path / "moved")
    moved = Workspace.open(tmp_path / "moved")
    assert len(select_actions(RuleStore.of(moved), rule_id="allocator")) == len(log)
