"""``spendlab plan optimize``: JSON keys of the issue, equal marginal returns, error exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spendlab.cli.main import app

CURVES = [
    {"id": "tv", "curve": {"type": "hill", "params": {"beta": 500, "half": 400, "s": 2}}},
    {
        "id": "search",
        "curve": {"type": "logistic", "params": {"beta": 300, "lam": 0.004}},
        "max": 600,
    },
    {"id": "social", "curve": {"type": "exponential", "params": {"beta": 250, "scale": 300}}},
]


def test_optimize_json(tmp_path: Path) -> None:
    f = tmp_path / "curves.json"
    f.write_text(json.dumps(CURVES))
    r = CliRunner().invoke(app, ["plan", "optimize", str(f), "--budget", "1000", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out["allocation"]) == {"tv", "search", "social"}
    assert abs(sum(out["allocation"].values()) - 1000) < 1e-6
    assert {"mean", "lo", "hi"} <= set(out["expected"])
    assert out["kkt_gap"] <= 1e-6
    m = list(out["marginal"].values())
    assert max(m) - min(m) < 1e-9 * max(m)


def test_optimize_infeasible_exit_code(tmp_path: Path) -> None:
    f = tmp_path / "curves.json"
    f.write_text(json.dumps([{**c, "max": 10} for c in CURVES]))
    r = CliRunner().invoke(app, ["plan", "optimize", str(f), "--budget", "1000", "--json"])
    assert r.exit_code == 5
    assert "cannot be spent" in json.loads(r.stdout)["error"]["message"]


def test_optimize_group_cap_lock_and_change_limit(tmp_path: Path) -> None:
    f = tmp_path / "curves.json"
    items = [{**c, "current": 300.0} for c in CURVES]
    f.write_text(json.dumps(items))
    args = ["plan", "optimize", str(f), "--budget", "700", "--json"]
    r = CliRunner().invoke(app, [*args, "--group", "paid=search,social:400", "--lock", "tv"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)["allocation"]
    assert a["tv"] == 300.0 and a["search"] + a["social"] == pytest.approx(400.0)
    r = CliRunner().invoke(app, [*args, "--budget", "800", "--group", "paid=search,social:400"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)["allocation"]
    assert a["search"] + a["social"] <= 400.0 + 1e-6 and sum(a.values()) == pytest.approx(800.0)
    r = CliRunner().invoke(app, [*args, "--budget", "900", "--max-change-rel", "0.1"])
    a = json.loads(r.stdout)["allocation"]
    assert all(270 - 1e-9 <= v <= 330 + 1e-9 for v in a.values())
    assert sum(a.values()) == pytest.approx(900.0)
    r = CliRunner().invoke(app, [*args, "--group", "oops"])
    assert r.exit_code != 0 and "NAME=ID" in r.stdout


def _workspace(tmp_path: Path) -> Path:
    import datetime as dt

    import pandas as pd

    from spendlab.data.ingest import ingest_frames
    from spendlab.data.warehouse import Warehouse

    days = [dt.date(2024, 1, 1) + dt.timedelta(days=k) for k in range(30)]
    ap = pd.DataFrame(
        [{"date": d, "platform": "google_ads", "level": "campaign", "campaign_id": c,
          "spend": s, "currency": "USD"}
         for d in days for c, s in (("tv", 280.0), ("search", 140.0))]
    )  # fmt: skip
    ws = tmp_path / "ws"
    with Warehouse.init(ws, currency="USD") as wh:
        ingest_frames(wh, {"ad_performance": ap})
    return ws


def test_curves_scenarios_and_frontier_json(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    f = tmp_path / "curves.json"
    f.write_text(json.dumps(CURVES))
    run = CliRunner().invoke
    w = ["--workspace", str(ws), "--json"]
    r = run(app, ["plan", "curves", "import", str(f), "--name", "hand", "--period", "day", *w])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["active"] is True
    listed = json.loads(run(app, ["plan", "curves", "list", *w]).stdout)
    assert [c["name"] for c in listed] == ["hand"]
    r = run(app, ["plan", "curves", "import", str(f), "--name", "second", *w])
    assert json.loads(r.stdout)["active"] is True
    r = run(app, ["plan", "curves", "activate", "hand", *w])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["name"] == "hand" and json.loads(r.stdout)["active"] is True
    listed = json.loads(run(app, ["plan", "curves", "list", *w]).stdout)
    assert [(c["name"], c["active"]) for c in listed] == [("second", False), ("hand", True)]
    r = run(app, ["plan", "curves", "activate", "nope", *w])
    assert r.exit_code == 6 and "no curve set 'nope'" in json.loads(r.stdout)["error"]["message"]
    # the workspace decides where its rows live: there is no --store any more
    assert run(app, ["plan", "curves", "list", "--store", "sqlite://", *w]).exit_code == 2
    r = run(app, ["plan", "scenario", "create", "tv to social", "--op",
                  "shift 25% from tv to social", *w])  # fmt: skip
    assert r.exit_code == 0, r.output
    sc = json.loads(r.stdout)
    assert sc["current"] == {"tv": 280.0, "search": 140.0, "social": 0.0}
    assert sc["allocation"] == {"tv": 210.0, "search": 140.0, "social": 70.0}
    from spendlab.plan.curves import curves_from_json

    curves, _ = curves_from_json(CURVES)
    want = curves.response([210.0, 140.0, 70.0]).sum()
    assert sc["predicted"]["outcome"]["mean"] == pytest.approx(want, rel=1e-12)
    r2 = run(app, ["plan", "scenario", "create", "flat", "--budget", "630", *w])
    rows = json.loads(run(app, ["plan", "scenario", "compare", str(sc["id"]),
                                str(json.loads(r2.stdout)["id"]), *w]).stdout)  # fmt: skip
    spend = {r["scenario"]: r["mean"] for r in rows if r["metric"] == "spend" and
             r["entity"] == "total"}  # fmt: skip
    assert spend == {"tv to social": 420.0, "flat": pytest.approx(630.0)}
    fr = json.loads(run(app, ["plan", "frontier", "--points", "5", "--target", "0.3", *w]).stdout)
    assert [p["budget"] for p in fr["points"]] == [0.0, 210.0, 420.0, 630.0, 840.0]
    assert fr["max_budget"]["value"] == pytest.approx(0.3, rel=1e-6)
    assert run(app, ["plan", "scenario", "delete", str(sc["id"]), *w]).exit_code == 0
    r = run(app, ["plan", "scenario", "show", str(sc["id"]), *w])
    assert r.exit_code != 0 and json.loads(r.stdout)["error"]["type"] == "NotFoundError"


def test_plan_without_a_curve_set_says_what_to_do(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    r = CliRunner().invoke(app, ["plan", "scenario", "create", "x", "--workspace", str(ws),
                                 "--json"])  # fmt: skip
    assert r.exit_code == 6
    assert "spendlab plan curves import" in json.loads(r.stdout)["error"]["message"]


def _market_ws(tmp_path: Path) -> Path:
    import sys

    from spendlab.data.ingest import ingest_frames
    from spendlab.data.warehouse import Warehouse

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from automate.conftest import market_frames

    ap, ents = market_frames()
    with Warehouse.init(tmp_path / "ws") as wh:
        ingest_frames(wh, {"ad_performance": ap, "entities": ents})
    return tmp_path / "ws"


def test_allocate_dry_run_then_log_approve_undo(tmp_path: Path) -> None:
    from spendlab.core.actions import Action

    ws = _market_ws(tmp_path)
    base = ["plan", "allocate", "--workspace", str(ws), "--date", "2024-02-21", "--json"]
    runner = CliRunner()
    r = runner.invoke(app, [*base, "--dry-run", "--max-change", "0.15", "--seed", "3"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["logged"] == [] and out["kkt_gap"] <= 1e-6
    assert out["expected"]["lo"] <= out["expected"]["mean"] <= out["expected"]["hi"]
    acts = out["actions"]
    assert acts and {"rule_id", "level", "entity_id", "action", "old_value", "new_value",
                     "reason"} <= set(acts[0])  # fmt: skip
    for a in acts:
        assert a["rule_id"] == "allocator" and a["action"] == "set_budget"
        assert a["level"] == "campaign"
        assert abs(a["new_value"] - a["old_value"]) <= 0.15 * a["old_value"] + 0.011
        assert "vs portfolio" in a["reason"]
        d = {k: v for k, v in a.items() if k != "action_id"}
        assert Action.from_dict(d).to_dict() == d
    # the budget (default: sum of current budgets) is kept exactly
    assert abs(sum(a["new_value"] - a["old_value"] for a in acts)) < 0.005 + 1e-9
    again = json.loads(runner.invoke(app, [*base, "--dry-run", "--max-change", "0.15",
                                           "--seed", "3"]).stdout)  # fmt: skip
    assert [a["new_value"] for a in again["actions"]] == [a["new_value"] for a in acts]
    # logged as proposed in the action log; approve writes the budgets; a re-run logs nothing
    r = runner.invoke(app, base)
    ids = json.loads(r.stdout)["logged"]
    assert ids and len(ids) == len(json.loads(r.stdout)["actions"])
    log = json.loads(runner.invoke(app, ["rules", "log", "--workspace", str(ws), "--json"]).stdout)
    assert {a["rule_id"] for a in log} == {"allocator"} and {a["status"] for a in log} == {
        "proposed"
    }
    r = runner.invoke(app, ["rules", "approve", *map(str, ids), "--workspace", str(ws), "--json"])
    assert json.loads(r.output)["executed"] == ids
    again = json.loads(runner.invoke(app, base).stdout)
    assert again["logged"] == [] and "already logged" in again["notes"][-1]
    r = runner.invoke(app, ["rules", "undo", "--rule", "allocator", "--workspace", str(ws),
                            "--json"])  # fmt: skip
    assert sorted(json.loads(r.output)["undone"]) == sorted(ids)


def test_allocate_clear_errors(tmp_path: Path) -> None:
    ws = _market_ws(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["plan", "allocate", "--workspace", str(ws), "--date", "2023-06-01",
                            "--json"])  # fmt: skip
    assert r.exit_code == 3
    assert "no campaign rows" in json.loads(r.stdout)["error"]["message"]
    r = runner.invoke(app, ["plan", "allocate", "--workspace", str(ws), "--date", "2024-02-21",
                            "--budget", "0", "--json"])  # fmt: skip
    assert r.exit_code == 5 and "budget" in json.loads(r.stdout)["error"]["message"]
    r = runner.invoke(app, ["plan", "allocate", "--workspace", str(tmp_path / "nope"),
                            "--date", "2024-02-21", "--json"])  # fmt: skip
    assert r.exit_code == 4
