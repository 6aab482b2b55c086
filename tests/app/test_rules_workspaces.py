"""Several workspaces in one store (SPENDLAB_STORE_URL): the rules domain's rows are keyed by
workspace, so each workspace sees only its own rules, versions, settings, runs, queue and log;
approve, reject and undo never touch another workspace; re-run idempotency is per workspace;
the REST routes and the allocator's log land in the right workspace. On SQLite and on
PostgreSQL (the ``store`` fixture: the migrated schema), plus the 0006 upgrade of old rows."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from spendlab.app.store import open_store
from spendlab.app.store.db import _alembic_config, head_revision
from spendlab.automate import pipeline
from spendlab.automate import store as rstore
from spendlab.automate.rules import parse_rules
from spendlab.config import workspace_key
from spendlab.core.actions import Action, ActionKind, ActionStatus, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.data.warehouse import Warehouse

from .conftest import login

DAY = date(2024, 3, 11)  # the demo data ends 2024-03-10
RAISE = {
    "id": "raise",
    "scope": {"level": "keyword"},
    "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.0},
    "action": {"type": "bid", "mode": "percent", "value": 10, "max": 50},
}


@pytest.fixture
def two(demo_template, tmp_path):
    """Two copies of the demo workspace (same entity ids) and their keys."""
    paths = []
    for name in ("a", "b"):
        shutil.copytree(demo_template, tmp_path / name)
        paths.append(tmp_path / name)
    return paths


def _bids(wh: Warehouse, acts: list[Action]) -> list[float | None]:
    t = wh.table("entities").filter(lambda t: t.level == "keyword")
    got = {r["keyword_id"]: r["bid"] for r in t.select("keyword_id", "bid").to_pyarrow().to_pylist()}
    return [got[a.entity.keyword_id] for a in acts]


def test_two_workspaces_in_one_store_never_mix(store, two):
    a_path, b_path = two
    A = rstore.RuleStore.of(store.engine, a_path)  # noqa: N806 - the two workspaces
    B = rstore.RuleStore.of(store.engine, b_path)  # noqa: N806
    assert A.workspace == workspace_key(a_path) != B.workspace
    raise_a, only_a = parse_rules([RAISE, {**RAISE, "id": "only-a"}])
    (raise_b,) = parse_rules([{**RAISE, "action": {**RAISE["action"], "value": 20}}])
    # the same rule id in both, different specs: each has its own version 1
    assert rstore.save_rule(A, raise_a).version == 1
    assert rstore.save_rule(A, only_a).version == 1
    assert rstore.save_rule(B, raise_b).version == 1
    assert rstore.save_rule(B, raise_b).version == 1  # unchanged: no new version
    assert [r.id for r in rstore.active_rules(A)] == ["only-a", "raise"]
    assert [(r.id, r.action.value) for r in rstore.active_rules(B)] == [("raise", 20)]
    assert [v["version"] for v in rstore.rule_versions_of(B, "raise")] == [1]
    assert rstore.rule_version(A, "raise", 1).action.value == 10
    with Warehouse.open(a_path) as wa, Warehouse.open(b_path) as wb:
        ra = pipeline.run_rules(wa, [raise_a], DAY, mode="suggest", rs=A)
        rb = pipeline.run_rules(wb, [raise_b], DAY, mode="suggest", rs=B)
        # idempotency is per workspace: B ran the same rule id and version on the same date
        assert ra.actions and rb.skipped_rules == [] and len(rb.actions) == len(ra.actions)
        again = pipeline.run_rules(wa, [raise_a], DAY, mode="suggest", rs=A)
        assert again.skipped_rules == ["raise"] and again.actions == []
        # each queue and log holds only its own actions
        qa, qb = _ids(A, ActionStatus.PROPOSED), _ids(B, ActionStatus.PROPOSED)
        assert qa == ra.action_ids and qb == rb.action_ids and not set(qa) & set(qb)
        rows_a, total_a = rstore.query_actions(A, limit=1000)
        assert total_a == len(qa) and {i for i, _, _ in rows_a} == set(qa)
        # approving or rejecting B's ids through A does nothing, in the log or the warehouse
        before_b = _bids(wb, rb.actions)
        assert list(pipeline.approve(wa, A, qb)) == [] and pipeline.reject(A, qb) == []
        rstore.set_status(A, qb, ActionStatus.REJECTED)
        assert _ids(B, ActionStatus.PROPOSED) == qb
        # A approves its own: A's warehouse changes, B's does not
        assert list(pipeline.approve(wa, A, qa, approver="ana")) == qa
        assert _bids(wa, ra.actions) == pytest.approx([float(a.new_value) for a in ra.actions])
        assert _bids(wb, rb.actions) == before_b
        # undoing the rule in B finds nothing executed there; in A it restores A's old values
        assert list(pipeline.undo(wb, B, rule_id="raise")) == []
        assert _ids(A, ActionStatus.EXECUTED) == qa
        assert sorted(pipeline.undo(wa, A, rule_id="raise")) == qa
        assert _bids(wa, ra.actions) == pytest.approx([float(a.old_value) for a in ra.actions])
        assert _ids(B, ActionStatus.PROPOSED) == qb
        assert pipeline.history(B).executed == []  # cooldowns read only B's executed actions
    # runs, settings and soft delete per workspace
    assert [r["run_id"] for r in rstore.list_runs(B)] == [rb.run_id]
    assert {r["run_id"] for r in rstore.list_runs(A)} == {ra.run_id, again.run_id}
    rstore.set_rule_settings(A, "raise", by="ada", deleted=True)
    rstore.set_rule_settings(B, "raise", by="ada", mode="auto")
    assert [r.id for r in rstore.active_rules(A)] == ["only-a"]
    assert [r.id for r in rstore.active_rules(B)] == ["raise"]
    assert rstore.rule_settings_of(B)["raise"]["mode"] == "auto"
    assert rstore.rule_settings_of(A)["raise"]["mode"] == "suggest"
    # rows from before the upgrade (workspace '') are nobody's
    legacy = rstore.RuleStore(store.engine, "")
    assert rstore.active_rules(legacy) == [] and rstore.select_actions(legacy) == []


def _ids(rs: rstore.RuleStore, status: ActionStatus) -> list[int]:
    return [i for i, _, _ in rstore.select_actions(rs, status=[status.value])]
