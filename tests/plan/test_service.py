"""The planning service on a real workspace (DuckDB warehouse, SQLite store in the folder): the
plan context, curve sets, scenarios, the optimizer and recommendations, each keyed by the
workspace's stable id so moving the folder keeps them."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from spendlab.automate.store import RuleStore, log_actions
from spendlab.core.actions import Action, ActionKind, ActionStatus, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError, DataError, NotFittedError, NotFoundError
from spendlab.plan import service
from spendlab.plan.constraints import Constraints
from spendlab.plan.curves import curves_from_json
from spendlab.workspace import Workspace

CURVES = [
    {"id": "tv", "curve": {"type": "hill", "params": {"beta": 500, "half": 400, "s": 2}}},
    {"id": "search", "curve": {"type": "logistic", "params": {"beta": 300, "lam": 0.004}}},
    {"id": "social", "curve": {"type": "exponential", "params": {"beta": 250, "scale": 300}}},
]


def _workspace(folder: Path) -> Workspace:
    """30 days of delivery: tv 280 and search 140 a day (social has none)."""
    from spendlab.data.ingest import ingest_frames

    ws = Workspace.init(folder, currency="USD")
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=k) for k in range(30)]
    ap = pd.DataFrame(
        [{"date": d, "platform": "google_ads", "level": "campaign", "campaign_id": c,
          "spend": s, "currency": "USD"}
         for d in days for c, s in (("tv", 280.0), ("search", 140.0))]
    )  # fmt: skip
    with ws.warehouse() as wh:
        ingest_frames(wh, {"ad_performance": ap})
    return ws


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return _workspace(tmp_path / "ws")


@pytest.fixture
def planned(ws: Workspace, tmp_path: Path) -> Workspace:
    f = tmp_path / "curves.json"
    f.write_text(json.dumps(CURVES))
    service.import_curves(ws, f, "hand")
    return ws


def test_context_needs_a_curve_set_then_reads_current_spend(ws, tmp_path) -> None:
    with pytest.raises(NotFittedError, match="planning is not configured.*plan curves import"):
        service.context(ws)
    f = tmp_path / "curves.json"
    f.write_text(json.dumps(CURVES))
    summary = service.import_curves(ws, f, "hand")
    ctx = service.context(ws)
    assert ctx.workspace == ws.id and ctx.cs.id == summary["id"]
    assert ctx.current == {"tv": 280.0, "search": 140.0, "social": 0.0}
    assert ctx.sources == {"tv": "warehouse", "search": "warehouse", "social": "none"}
    assert ctx.window == ("2024-01-03", "2024-01-30")  # the last 28 days of delivery
    assert ctx.current_list() == [280.0, 140.0, 0.0]
    assert ctx.to_dict()["curve_set"]["name"] == "hand"


def test_curve_sets_import_list_activate(ws, tmp_path) -> None:
    f = tmp_path / "curves.json"
    f.write_text(json.dumps(CURVES))
    first = service.import_curves(ws, f, "json set")
    csv = tmp_path / "curves.csv"
    pd.DataFrame(
        {"channel": ["tv", "search"], "type": ["hill", "logistic"], "beta": [1.0, 2.0],
         "half": [3.0, None], "s": [1.0, None], "lam": [None, 0.1]}
    ).to_csv(csv, index=False)  # fmt: skip
    second = service.import_curves(ws, csv, "csv set", period="week")
    listed = service.list_curve_sets(ws)
    assert [(c["name"], c["active"], c["period"]) for c in listed] == [
        ("csv set", True, "week"),
        ("json set", False, "day"),
    ]
    assert service.activate_curve_set(ws, "json set")["active"] is True
    assert service.context(ws).cs.id == first["id"]
    assert service.curve_set(ws, second["id"]).name == "csv set"
    with pytest.raises(NotFoundError, match="no curve set 'nope'"):
        service.activate_curve_set(ws, "nope")
    with pytest.raises(DataError, match="not found"):
        service.read_curve_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not a readable JSON"):
        service.read_curve_file(bad)


def test_scenarios_life_cycle(planned) -> None:
    ws = planned
    curves, _ = curves_from_json(CURVES)
    sc = service.create_scenario(ws, "tv to social", operations=["shift 25% from tv to social"])
    assert sc["allocation"] == {"tv": 210.0, "search": 140.0, "social": 70.0}
    assert sc["predicted"]["outcome"]["mean"] == pytest.approx(
        curves.response([210.0, 140.0, 70.0]).sum(), rel=1e-12
    )
    assert sc["spec"] == {"operations": ["shift 25% from tv to social"], "budget": None}
    preview = service.create_scenario(ws, "flat", budget=630.0, save=False)
    assert "id" not in preview and sum(preview["allocation"].values()) == pytest.approx(630.0)
    alloc = service.create_scenario(ws, "set", allocation={"social": 10.0}, author="ana")
    assert alloc["allocation"]["social"] == 10.0 and alloc["author"] == "ana"
    assert alloc["spec"] == {"operations": [], "allocation": {"social": 10.0}, "budget": None}
    assert [s["name"] for s in service.list_scenarios(ws)] == ["set", "tv to social"]
    assert service.get_scenario(ws, sc["id"])["predicted"] == sc["predicted"]
    rows = service.compare_scenarios(ws)  # newest 20, oldest first
    totals = [r for r in rows if r["entity"] == "total" and r["metric"] == "spend"]
    assert [(r["scenario"], r["mean"]) for r in totals] == [("tv to social", 420.0),
                                                            ("set", 430.0)]  # fmt: skip
    assert {r["scenario"] for r in service.compare_scenarios(ws, [alloc["id"]])} == {"set"}
    service.delete_scenario(ws, sc["id"])
    with pytest.raises(NotFoundError):
        service.get_scenario(ws, sc["id"])


def test_optimize_frontier_and_recommend(planned) -> None:
    ws = planned
    out = service.optimize(ws, budget=500.0, constraints=Constraints(min={"search": 200.0}))
    assert out["allocation"]["search"] == pytest.approx(200.0)
    assert any("search: held at its lower bound" in b for b in out["binding"])
    assert sum(out["allocation"].values()) == pytest.approx(500.0)
    assert out["current_window"] == ("2024-01-03", "2024-01-30")
    f = service.frontier(ws, points=5, target=0.3)
    assert [p["budget"] for p in f["points"]] == [0.0, 210.0, 420.0, 630.0, 840.0]
    assert f["current_budget"] == 420.0 and f["max_budget"]["value"] == pytest.approx(0.3)
    act = Action(
        entity=EntityRef(platform="google_ads", level=Level.CAMPAIGN, campaign_id="tv"),
        kind=ActionKind.SET_BUDGET, old_value=None, new_value=None, reason="rule says so",
        as_of=dt.date(2024, 1, 31), status=ActionStatus.PROPOSED,
    )  # fmt: skip
    (aid,) = log_actions(RuleStore.of(ws), [act])
    rec = service.recommend(ws)
    assert rec["budget"] == service.optimize(ws)
    assert sum(rec["budget"]["allocation"].values()) == pytest.approx(420.0)
    assert rec["pending_total"] == 1 and rec["pending_actions"][0]["id"] == aid


def test_rows_follow_the_folder_and_stay_per_workspace(planned, tmp_path) -> None:
    sc = service.create_scenario(planned, "kept", operations=["scale tv by -10%"])
    moved = tmp_path / "moved" / "ws"
    moved.parent.mkdir()
    shutil.move(planned.path, moved)
    again = Workspace.open(moved)
    assert again.id == planned.id and again.path != planned.path
    assert [c["name"] for c in service.list_curve_sets(again)] == ["hand"]
    assert service.get_scenario(again, sc["id"])["predicted"] == sc["predicted"]
    assert service.context(again).current == {"tv": 280.0, "search": 140.0, "social": 0.0}
    # a second workspace numbers its scenarios from 1 too: find_scenario asks which is meant
    other = _workspace(tmp_path / "other")
    f = tmp_path / "c.json"
    f.write_text(json.dumps(CURVES))
    service.import_curves(other, f, "other")
    mine = service.create_scenario(other, "theirs")
    assert mine["id"] == sc["id"]
    with pytest.raises(ConfigError, match="several workspaces"):
        service.find_scenario([again, other], sc["id"])
    assert service.find_scenario([other], sc["id"])["name"] == "theirs"
    with pytest.raises(NotFoundError):
        service.find_scenario([again, other], 99)


def test_predict_roi_needs_a_fitted_model(ws) -> None:
    with pytest.raises(NotFittedError, match="spendlab mmm fit --workspace PATH"):
        service.predict_roi(ws, {"search": 1.0})
    with pytest.raises(NotFoundError, match="no model run 'r1' in this workspace"):
        service.predict_roi(ws, {}, run_id="r1")


def test_recommendations_stay_in_the_trust_region_by_default(planned) -> None:
    """tv and search ran flat (280 and 140 a day), social never ran: the default trust region
    allows tv and search +-30% (max step) and keeps social at 0; without it the optimizer moves
    money to spend levels never seen, and says so."""
    ws = planned
    obs = service.context(ws).observed
    assert obs["tv"] == {"q_lo": 280.0, "q_hi": 280.0, "min": 280.0, "max": 280.0, "days": 30}
    assert obs["social"]["days"] == 0
    rec = service.recommend(ws)["budget"]
    ents = {e["id"]: e for e in rec["trust"]["entities"]}
    assert (ents["tv"]["lo"], ents["tv"]["hi"]) == pytest.approx((196.0, 364.0))
    assert (ents["search"]["lo_why"], ents["search"]["binds"]) == ("max step", "lo")
    assert rec["allocation"] == pytest.approx({"tv": 322.0, "search": 98.0, "social": 0.0})
    assert ents["social"]["hi"] == 0.0 and ents["social"]["observed"] is None
    assert rec["outside_observed"] == ["tv", "search"]  # 30% off a flat history: flagged
    old = service.optimize(ws, trust=False)
    assert old["allocation"]["social"] > 50 and old["allocation"]["search"] == 0.0
    assert old["outside_observed"] == ["tv", "search", "social"]
    assert old["trust"]["region"] is None
    narrow = service.optimize(ws, trust=service.TrustRegion(max_step=0.1))
    assert narrow["allocation"]["search"] == pytest.approx(126.0)


def test_cli_recommend_shows_bounds_and_honours_the_options(planned) -> None:
    from typer.testing import CliRunner

    from spendlab.cli.main import app as cli

    w = ["plan", "recommend", "--workspace", str(planned.path), "--json"]
    runner = CliRunner()
    rec = json.loads(runner.invoke(cli, w).stdout)
    assert rec == json.loads(json.dumps(service.optimize(planned), default=str))
    wide = json.loads(runner.invoke(cli, [*w, "--max-step", "0.5"]).stdout)
    assert {e["id"]: e["lo"] for e in wide["trust"]["entities"]}["search"] == 70.0
    off = json.loads(runner.invoke(cli, [*w, "--no-trust-region"]).stdout)
    assert off["trust"]["region"] is None and "social" in off["outside_observed"]
    text = runner.invoke(cli, w[:-1])
    assert text.exit_code == 0 and "max step" in text.stdout and "no posterior draws" in text.stdout
