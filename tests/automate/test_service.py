"""The rules domain's use cases on a real workspace (its DuckDB warehouse and its own app.db):
the library and its versions, a suggest run approved and undone, the per-day backtest equal to
the one-pass backtest, and the warehouse released after every use case (another process can
open it for writing)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from spendlab.automate import pipeline
from spendlab.automate import service as svc
from spendlab.automate.rules import parse_rules
from spendlab.automate.specs import parse_spec
from spendlab.data.ingest import ingest_frames
from spendlab.errors import ConfigError, NotFoundError
from spendlab.workspace import Workspace

from .conftest import AS_OF, market_frames

RAISE = {
    "id": "raise",
    "scope": {"level": "keyword"},
    "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.0},
    "action": {"type": "bid", "mode": "percent", "value": 10, "max": 50},
}


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ap, ents = market_frames()
    handle = Workspace.init(tmp_path / "ws")
    with handle.warehouse() as wh:
        ingest_frames(wh, {"ad_performance": ap, "entities": ents})
    return handle


def _writable_by_another_process(ws: Workspace) -> bool:
    code = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"
    db = str(ws.path / "warehouse.duckdb")
    return subprocess.run([sys.executable, "-c", code, db], capture_output=True).returncode == 0


def test_library_versions_modes_and_soft_delete(ws):
    rule = parse_spec(RAISE)
    assert svc.save(ws, rule, author="ana")["version"] == 1
    assert svc.save(ws, rule, author="ana")["version"] == 1  # unchanged: no new version
    changed = parse_spec({**RAISE, "priority": 3})
    assert svc.save(ws, changed, author="bob", mode="auto")["mode"] == "auto"
    off = svc.update(ws, "raise", author="ana", enabled=False)
    assert (off["version"], off["enabled"], off["mode"]) == (3, False, "auto")
    assert svc.scheduled(ws) == []  # disabled: nothing to schedule
    on = svc.update(ws, "raise", author="ana", enabled=True, mode="suggest")
    assert [(r.id, m) for r, m in svc.scheduled(ws)] == [("raise", "suggest")]
    assert on["version"] == 4 and svc.describe(ws, "raise") == on
    assert [(v["version"], v["author"]) for v in svc.versions(ws, "raise")] == [
        (1, "ana"),
        (2, "bob"),
        (3, "ana"),
        (4, "ana"),
    ]
    svc.delete(ws, "raise", by="ana")
    assert svc.list_rules(ws) == [] and len(svc.versions(ws, "raise")) == 4
    with pytest.raises(NotFoundError, match="no rule 'raise'"):
        svc.get_rule(ws, "raise")
    with pytest.raises(NotFoundError, match="'nope'"):
        svc.pick_rules(ws, ["nope"])
    with pytest.raises(ConfigError, match="pick another id"):
        svc.save(ws, parse_spec({**RAISE, "id": "queue"}), author="ana")
    with pytest.raises(ConfigError, match="not one of"):
        svc.actions(ws, status=["done"])
    assert (ws.path / "app.db").exists()  # the workspace's own store


def test_suggest_approve_undo_and_the_warehouse_is_released(ws):
    svc.save(ws, parse_spec(RAISE), author="ana")
    run = svc.run(ws, svc.pick_rules(ws), AS_OF, mode="suggest", approver="ana")
    assert _writable_by_another_process(ws)
    ids = [a["action_id"] for a in run["actions"] if a["status"] == "proposed"]
    assert len(ids) >= 3 and run["mode"] == "suggest" and run["as_of"] == AS_OF.isoformat()
    again = svc.run(ws, svc.pick_rules(ws), AS_OF, mode="suggest", approver="ana")
    assert again["actions"] == [] and again["skipped_rules"] == ["raise"]
    assert svc.reject(ws, ids[:1], approver="vic") == {"rejected": ids[:1], "refused": []}
    done = svc.approve(ws, ids[1:], approver="ana")
    assert done == {"executed": ids[1:], "refused": []}
    assert _writable_by_another_process(ws)
    log = {a["action_id"]: (a["status"], a["approver"]) for a in svc.actions(ws)}
    assert log == {ids[0]: ("rejected", "vic"), **{i: ("executed", "ana") for i in ids[1:]}}
    undone = svc.undo(ws, rule_id="raise")
    assert sorted(undone["undone"]) == ids[1:] and undone["refused"] == []
    assert _writable_by_another_process(ws)
    second, first = svc.runs(ws)  # newest first; the second ran nothing new
    assert (first["run_id"], first["rules"], first["n_actions"]) == (
        run["run_id"],
        ["raise"],
        len(ids),
    )
    assert (second["run_id"], second["n_actions"]) == (again["run_id"], 0)
    act = svc.activity(ws)
    assert act["per_day"] == [{"day": AS_OF.isoformat(), "action": "set_bid", "n": len(ids) - 1}]


def test_backtest_day_by_day_equals_one_pass(ws):
    rules = parse_rules([RAISE])
    seen = []
    frame = svc.backtest_frame(
        ws, rules, end=AS_OF, days=3, kpi="spend", progress=lambda f, m: seen.append((f, m))
    )
    with ws.warehouse() as wh:
        want = pipeline.backtest(wh, rules, end=AS_OF, days=3, kpi="spend")
    assert len(frame) > 0
    pd.testing.assert_frame_equal(frame, want)
    assert [round(f, 3) for f, _ in seen] == [0.333, 0.667, 1.0]
    assert seen[-1][1] == f"{AS_OF} (3/3 days)"
    report = svc.backtest(ws, rules, end=AS_OF, days=3, kpi="spend")
    assert report["rules"][0]["rule_id"] == "raise"
    assert report["rules"][0]["actions"] == len(want) == len(report["actions"])
    assert _writable_by_another_process(ws)
