"""Stale-value checks: approve refuses an action whose entity no longer holds its old value,
undo refuses one whose entity no longer holds its new value; ``force`` overrides both."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from spendlab.automate import store
from spendlab.automate.pipeline import approve, run_rules, undo, write_entities
from spendlab.automate.rules import parse_rules
from spendlab.core.actions import ActionStatus
from spendlab.data.ingest import ingest_frames

from .conftest import AS_OF, market_frames

RAISE = {
    "id": "raise",
    "scope": {"level": "keyword"},
    "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.0},
    "action": {"type": "bid", "mode": "percent", "value": 10, "max": 50},
}


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


def _bid(ws, a) -> Decimal | None:
    t = ws.table("entities")
    e = a.entity
    row = (
        t.filter(
            (t.platform == e.platform)
            & (t.level == e.level.value)
            & (t.keyword_id == e.keyword_id)
            & (t.campaign_id == e.campaign_id)
            & (t.ad_group_id == e.ad_group_id)
        )
        .select("bid")
        .to_pyarrow()
        .to_pylist()
    )
    assert len(row) == 1
    return None if row[0]["bid"] is None else Decimal(str(row[0]["bid"]))


def _suggest(ws, rs, day):
    res = run_rules(ws, parse_rules([RAISE]), day, mode="suggest", rs=rs)
    pairs = [(i, a) for i, a in zip(res.action_ids, res.actions, strict=True)
             if a.status is ActionStatus.PROPOSED]  # fmt: skip
    assert pairs
    return pairs


def _status(rs, i) -> ActionStatus:
    ((_, a, _),) = store.select_actions(rs, ids=[i])
    return a.status


def test_approve_refuses_a_changed_entity_unless_forced(ws, rs):
    (i, a), (j, b) = _suggest(ws, rs, AS_OF)[:2]
    write_entities(ws, [(a, Decimal("9.99"))], "test:outside-change")
    done = approve(ws, rs, [i, j], approver="ana")
    assert list(done) == [j]
    assert [r.id for r in done.refused] == [i]
    msg = done.refused[0].message
    assert f"action {i}" in msg and "is now 9.99" in msg and f"not {a.old_value}" in msg
    assert "force" in msg
    assert _bid(ws, a) == Decimal("9.99") and _status(rs, i) is ActionStatus.PROPOSED
    assert _bid(ws, b) == b.new_value
    forced = approve(ws, rs, [i], approver="ana", force=True)
    assert list(forced) == [i] and not forced.refused
    assert _bid(ws, a) == a.new_value and _status(rs, i) is ActionStatus.EXECUTED


def test_two_proposals_from_one_old_value_execute_once(ws, rs):
    first = dict((a.entity.key(), (i, a)) for i, a in _suggest(ws, rs, AS_OF))
    second = dict((a.entity.key(), (i, a)) for i, a in _suggest(ws, rs, AS_OF + timedelta(days=1)))
    key = next(k for k in first if k in second and first[k][1].old_value == second[k][1].old_value)
    (i, a), (j, _) = first[key], second[key]
    done = approve(ws, rs, [i, j])
    assert list(done) == [i] and [r.id for r in done.refused] == [j]
    assert _bid(ws, a) == a.new_value


def test_undo_refuses_when_the_value_changed_since(ws, rs):
    (i, a), *_ = _suggest(ws, rs, AS_OF)
    approve(ws, rs, [i])
    write_entities(ws, [(a, Decimal("7.77"))], "test:outside-change")
    out = undo(ws, rs, ids=[i])
    assert list(out) == [] and out.refused[0].id == i
    msg = out.refused[0].message
    assert "is now 7.77" in msg and f"not {a.new_value}" in msg and "outside SpendLab" in msg
    assert _bid(ws, a) == Decimal("7.77") and _status(rs, i) is ActionStatus.EXECUTED
    forced = undo(ws, rs, ids=[i], force=True)
    assert list(forced) == [i] and _bid(ws, a) == a.old_value


def test_undo_of_an_older_action_names_the_newer_one(ws, rs):
    first = {a.entity.key(): (i, a) for i, a in _suggest(ws, rs, AS_OF)}
    approve(ws, rs, [i for i, _ in first.values()])
    second = {a.entity.key(): (i, a) for i, a in _suggest(ws, rs, AS_OF + timedelta(days=1))}
    key = next(k for k in second if k in first)
    (i1, a1), (i2, a2) = first[key], second[key]
    assert a2.old_value == a1.new_value
    assert list(approve(ws, rs, [i2])) == [i2]
    out = undo(ws, rs, ids=[i1])
    assert list(out) == [] and f"by action {i2}" in out.refused[0].message
    # undoing the whole rule unwinds both, newest first, to the first old value
    both = undo(ws, rs, rule_id="raise")
    assert {i1, i2} <= set(both) and not both.refused
    assert _bid(ws, a1) == a1.old_value
