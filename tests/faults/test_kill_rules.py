"""kill -9 during a rules run and during an approval batch: the action log holds a whole run or
none of it, no action is half-approved, and the same command completes afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from spendlab.data.ingest import ingest_frames
from spendlab.data.warehouse import Warehouse

from ..automate.conftest import AS_OF, market_frames
from .conftest import cli, counts, kill_at, run

RULE = Path(__file__).resolve().parents[2] / "src/spendlab/automate/templates"
RULE = RULE / "cut-bids-cpa-2x-campaign.yaml"
LOG_TABLES = ("rule_actions", "rule_runs", "rule_run_dates")


@pytest.fixture
def rules_ws(tmp_path: Path) -> Path:
    ap, ents = market_frames()
    with Warehouse.init(tmp_path / "ws") as wh:
        ingest_frames(wh, {"ad_performance": ap, "entities": ents})
    return tmp_path / "ws"


def _log(ws: Path) -> dict[str, list[dict]]:
    """The workspace store's action log, runs and run dates, read by a fresh engine."""
    engine = sa.create_engine(f"sqlite:///{ws / 'app.db'}")
    try:
        with engine.connect() as c:
            names = set(sa.inspect(c).get_table_names())
            return {
                t: [dict(r._mapping) for r in c.execute(sa.text(f"select * from {t}"))]
                if t in names
                else []
                for t in LOG_TABLES
            }
    finally:
        engine.dispose()


def _suggest(ws: Path) -> list[str]:
    return cli(
        "rules",
        "run",
        str(RULE),
        "--suggest",
        "-w",
        str(ws),
        "--as-of",
        AS_OF.isoformat(),
        "--json",
    )


def _bids(ws: Path, keywords: list[str]) -> dict[str, float]:
    """The keywords' bids in the warehouse, read by a fresh DuckDB connection."""
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("select keyword_id, bid from entities where level = 'keyword'")
        return {k: b for k, b in rows.fetchall() if k in keywords}
    finally:
        con.close()


def test_a_rules_run_killed_before_its_commit_logs_nothing_and_reruns(
    rules_ws: Path, pause_dir: Path
):
    before, wh_before = _log(rules_ws), counts(rules_ws)

    # every action and the run record are written in one transaction, not yet committed
    kill_at("rules.before_commit", _suggest(rules_ws), pause_dir)

    assert _log(rules_ws) == before  # no orphan actions a re-run would log twice
    assert counts(rules_ws) == wh_before
    done = run(_suggest(rules_ws), pause_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    proposed = [a for a in json.loads(done.stdout) if a["status"] == "proposed"]
    assert proposed
    log = _log(rules_ws)
    assert len(log["rule_actions"]) == len(json.loads(done.stdout))
    assert len(log["rule_runs"]) == 1 and log["rule_runs"][0]["n_actions"] == len(
        log["rule_actions"]
    )
    again = run(_suggest(rules_ws), pause_dir)  # the same day again adds nothing
    assert again.returncode == 0 and json.loads(again.stdout) == []
    assert len(_log(rules_ws)["rule_actions"]) == len(log["rule_actions"])


def test_an_approval_killed_between_the_two_databases_finishes_on_reapproval(
    rules_ws: Path, pause_dir: Path
):
    r = run(_suggest(rules_ws), pause_dir)
    assert r.returncode == 0, r.stderr
    acts = [a for a in json.loads(r.stdout) if a["status"] == "proposed"]
    ids = [str(a["action_id"]) for a in acts]
    keywords = [a["entity_id"] for a in acts]
    old = {a["entity_id"]: a["old_value"] for a in acts}
    new = {a["entity_id"]: a["new_value"] for a in acts}
    assert _bids(rules_ws, keywords) == pytest.approx(old)
    approve = cli("rules", "approve", *ids, "-w", str(rules_ws), "--json")

    # the warehouse holds the new bids; the store still says proposed
    kill_at("approve.after_write", approve, pause_dir)

    statuses = {a["status"] for a in _log(rules_ws)["rule_actions"] if str(a["id"]) in ids}
    assert statuses == {"proposed"}  # all or none: not one action half-approved
    assert _bids(rules_ws, keywords) == pytest.approx(new)

    done = run(approve, pause_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert sorted(map(str, out["executed"])) == sorted(ids) and out["refused"] == []
    assert _bids(rules_ws, keywords) == pytest.approx(new)  # written once, not compounded
    log = {str(a["id"]): a for a in _log(rules_ws)["rule_actions"]}
    assert {log[i]["status"] for i in ids} == {"executed"}
    assert all(log[i]["approver"] == "cli" for i in ids)


def test_a_value_an_executed_action_set_is_not_taken_for_an_unlogged_write(rules_ws: Path):
    """The recovery above must not execute a second proposal that merely has the same new
    value as an action already executed (it was refused before and still is)."""
    from datetime import timedelta

    from spendlab.automate import service
    from spendlab.automate.rules.spec import load_rules
    from spendlab.workspace import Workspace

    ws = Workspace.open(rules_ws)
    rules = load_rules(RULE)
    day1 = service.run(ws, rules, AS_OF, mode="suggest", approver="ana")["actions"]
    day2 = service.run(ws, rules, AS_OF + timedelta(days=1), mode="suggest", approver="ana")
    first = {(a["entity_id"], a["old_value"], a["new_value"]): a["action_id"] for a in day1}
    twins = [
        (first[k], a["action_id"])
        for a in day2["actions"]
        if (k := (a["entity_id"], a["old_value"], a["new_value"])) in first
    ]
    assert twins
    i, j = twins[0]
    assert service.approve(ws, [i], approver="ana")["executed"] == [i]
    out = service.approve(ws, [j], approver="ana")
    assert out["executed"] == [] and [r["action_id"] for r in out["refused"]] == [j]
