"""Run modes, the action log, execution into `entities`, undo and idempotent re-runs."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from spendlab.automate import store
from spendlab.automate.guardrails import Guardrails
from spendlab.automate.pipeline import approve, backtest, reject, run_rules, undo
from spendlab.automate.rules import parse_rules
from spendlab.core.actions import ActionStatus
from spendlab.data.ingest import ingest_frames

from .conftest import AS_OF, market_frames

RULES = [
    {
        "id": "raise",
        "priority": 1,
        "scope": {"level": "keyword"},
        "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.0},
        "action": {"type": "bid", "mode": "percent", "value": 10, "max": 5},
    },
    {
        "id": "cut",
        "scope": {"level": "keyword"},
        "conditions": {
            "kpi": "cpa",
            "window": {"days": 14},
            "op": ">",
            "factor": 1.2,
            "other": {"kpi": "cpa", "level": "campaign", "window": {"days": 14}},
        },
        "action": {"type": "bid", "mode": "percent", "value": -15},
    },
    {
        "id": "pause",
        "scope": {"level": "keyword"},
        "conditions": {
            "kpi": "conversions",
            "analytic": "days",
            "daily": {"op": "==", "value": 0},
            "window": {"days": 14},
            "op": ">=",
            "value": 14,
        },
        "action": {"type": "pause_until", "days": 3},
    },
    {
        "id": "budget",
        "scope": {"level": "campaign"},
        "conditions": {"kpi": "spend", "window": {"days": 7}, "op": ">", "value": 100},
        "action": {"type": "budget", "value": 5},
    },
]


@pytest.fixture
def ws(workspace):
    ap, ents = market_frames()
    ingest_frames(workspace, {"ad_performance": ap, "entities": ents})
    return workspace


@pytest.fixture
def rs(tmp_path):
    e = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    store.create_all(e)
    yield store.RuleStore(e, "ws")
    e.dispose()


def _state(ws):
    t = ws.table("entities").to_pandas()
    return {
        (r.platform, r.level, r.account_id, r.campaign_id, r.ad_group_id, r.keyword_id, r.ad_id): (
            r.status,
            None if r.bid != r.bid else r.bid,
            None if r.budget != r.budget else r.budget,
        )
        for r in t.itertuples()
    }


def test_preview_writes_nothing_and_auto_then_undo_restores(ws, rs):
    rules = parse_rules(RULES)
    before = _state(ws)
    prev = run_rules(ws, rules, AS_OF, mode="preview")
    assert prev.actions and _state(ws) == before
    kinds = {a.rule_id for a in prev.actions if a.status is ActionStatus.PROPOSED}
    assert {"raise", "cut", "budget"} <= kinds
    # old values are the entities' current values
    for a in prev.actions:
        key = a.entity.key()
        if a.field == "bid":
            assert float(a.old_value) == before[key][1]
    # conflicts: at most one surviving change per entity field
    live = [a for a in prev.actions if a.status is ActionStatus.PROPOSED and a.field]
    assert len({(a.entity.key(), a.field) for a in live}) == len(live)

    res = run_rules(ws, rules, AS_OF, mode="auto", rs=rs)
    executed = [a for a in res.actions if a.status is ActionStatus.EXECUTED]
    assert executed
    after = _state(ws)
    for a in executed:
        if a.field == "bid":
            assert Decimal(str(after[a.entity.key()][1])) == a.new_value
        if a.field == "status":
            assert after[a.entity.key()][0] == "paused"
    # re-running the same date does nothing new
    again = run_rules(ws, rules, AS_OF, mode="auto", rs=rs)
    assert again.actions == [] and set(again.skipped_rules) == {r.id for r in rules}
    assert _state(ws) == after
    # undo of one action, then of the whole run: exact old values back
    first = res.action_ids[[a.status for a in res.actions].index(ActionStatus.EXECUTED)]
    assert undo(ws, rs, ids=[first]) == [first]
    undo(ws, rs, run_id=res.run_id)
    assert _state(ws) == before


def test_suggest_then_approve_and_reject(ws, rs):
    rules = parse_rules(RULES)
    res = run_rules(ws, rules, AS_OF, mode="suggest", rs=rs, approver="ana")
    ids = [i for i, a in zip(res.action_ids, res.actions, strict=True)
           if a.status is ActionStatus.PROPOSED]  # fmt: skip
    assert ids
    before = _state(ws)
    done = approve(ws, rs, ids[:3], approver="ana")
    reject(rs, ids[3:5], approver="ana")
    rows = {i: (a, r) for i, a, r in store.select_actions(rs, ids=ids[:5])}
    assert all(rows[i][0].status is ActionStatus.EXECUTED and rows[i][1]["approver"] == "ana"
               for i in done)  # fmt: skip
    assert all(rows[i][0].status is ActionStatus.REJECTED for i in ids[3:5])
    assert _state(ws) != before
    undo(ws, rs, rule_id=rows[done[0]][0].rule_id)
    undo(ws, rs, ids=done)
    assert _state(ws) == before


def test_pause_until_is_released(ws, rs):
    rules = parse_rules([RULES[2]])
    res = run_rules(ws, rules, AS_OF, mode="auto", rs=rs)
    paused = [a for a in res.actions if a.status is ActionStatus.EXECUTED]
    assert paused and all(a.until is not None for a in paused)
    later = run_rules(ws, [], paused[0].until, mode="auto", rs=rs)
    enabled = [a for a in later.actions if a.kind.value == "enable"]
    assert len(enabled) == len(paused)
    st = _state(ws)
    assert all(st[a.entity.key()][0] == "enabled" for a in enabled)


def test_kill_switch_and_caps(ws, rs):
    rules = parse_rules(RULES)
    res = run_rules(ws, rules, AS_OF, guardrails=Guardrails(kill_switch=True))
    assert res.actions and all(a.status is ActionStatus.BLOCKED for a in res.actions)
    capped = run_rules(ws, rules, AS_OF, guardrails=Guardrails(max_actions_per_run=2))
    assert sum(a.status is ActionStatus.PROPOSED for a in capped.actions) == 2


def test_backtest_reports_kpi_before_and_after(ws):
    rules = parse_rules([RULES[3]])
    bt = backtest(ws, rules, end=AS_OF, days=5, horizon=3, kpi="spend")
    assert len(bt) and set(bt.as_of) <= {AS_OF.fromordinal(AS_OF.toordinal() - i) for i in range(5)}
    assert (bt.kpi_before > 0).all()
