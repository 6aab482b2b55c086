"""Planning state lives in the workspace: curve sets and scenarios made with the CLI (real
``spendlab`` processes) appear over REST on a server whose own store is another database and
that got no store flag; moving the workspace folder keeps them; the CLI and the REST routes
compute the same plan context (one function, the same numbers)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from spendlab.app.access import grant
from spendlab.app.api import create_app
from spendlab.app.auth import create_user
from spendlab.cli.main import app as cli
from spendlab.plan import service
from spendlab.workspace import Workspace

from .conftest import PASSWORD, login, make_settings

PLAN = "/api/v1/workspaces/demo/plan"


def _campaigns(path: Path) -> list[str]:
    """Campaigns with spend in the workspace's last 28 days."""
    with Workspace.open(path).warehouse(read_only=True) as wh:
        t = wh.table("ad_performance")
        last = t.date.max().to_pandas()
        t = t.filter((t.campaign_id != "") & (t.date > last - timedelta(days=28)))
        spend = t.group_by("campaign_id").aggregate(spend=t.spend.sum()).to_pandas()
    return sorted(spend[spend["spend"] > 0]["campaign_id"])


def _spendlab(*args: str) -> dict:
    """Run the CLI in a process of its own (no store setting: the workspace decides)."""
    env = {k: v for k, v in os.environ.items() if k != "SPENDLAB_STORE_URL"}
    p = subprocess.run(
        [sys.executable, "-m", "spendlab.cli.main", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def cli_template(demo_template: Path, tmp_path_factory):
    """The demo workspace with a curve set over two of its campaigns (current spend from the
    warehouse) and a saved scenario, both made by `spendlab` processes (built once; each test
    gets a copy)."""
    root = tmp_path_factory.mktemp("cli-planned")
    path = root / "ws"
    shutil.copytree(demo_template, path)
    a, b = _campaigns(path)[:2]
    curves = [
        {"id": a, "curve": {"type": "hill", "params": {"beta": 900, "half": 150, "s": 0.9}}},
        {"id": b, "curve": {"type": "logistic", "params": {"beta": 700, "lam": 0.006}}},
    ]
    f = root / "curves.json"
    f.write_text(json.dumps(curves))
    w = ("--workspace", str(path))
    cs = _spendlab("plan", "curves", "import", str(f), "--name", "from the cli", *w)
    sc = _spendlab("plan", "scenario", "create", "cli shift", "--op", f"shift 20% from {a} to {b}",
                   *w)  # fmt: skip
    return path, cs, sc, (a, b)


@pytest.fixture
def cli_planned(cli_template, tmp_path: Path):
    path, cs, sc, ids = cli_template
    copy = tmp_path / "demo-ws"
    shutil.copytree(path, copy)
    return copy, cs, sc, ids


def _server(tmp_path: Path, ws_path: Path, name: str = "demo"):
    """A server as `spendlab serve -w PATH` starts it without --store: its own store under
    SPENDLAB_HOME, another database than the workspace's."""
    app = create_app(make_settings(home=tmp_path / f"home-{name}"), web=False)
    state = app.state.spendlab
    row = state.workspaces.register(name, ws_path)
    for user, role in (("ana", "analyst"), ("vic", "viewer")):
        create_user(state.store, user, PASSWORD, role)
        grant(state.store, user, row, role, by="test")
    return app


def test_cli_curve_sets_and_scenarios_show_on_a_server_without_store_flag(cli_planned, tmp_path):
    path, cs, sc, (a, b) = cli_planned
    app = _server(tmp_path, path)
    state = app.state.spendlab
    ws = state.workspaces.handle("demo")
    assert state.store.url != ws.store.url  # the server's store is another database
    assert ws.store.url == f"sqlite:///{path.resolve() / 'app.db'}"
    with TestClient(app) as c:
        h = login(c, "vic")
        sets = c.get(f"{PLAN}/curve-sets", headers=h).json()["items"]
        assert [(s["id"], s["name"], s["active"]) for s in sets] == [
            (cs["id"], "from the cli", True)
        ]
        listed = c.get(f"{PLAN}/scenarios", headers=h).json()["items"]
        assert [(s["id"], s["name"]) for s in listed] == [(sc["id"], "cli shift")]
        got = c.get(f"{PLAN}/scenarios/{sc['id']}", headers=h).json()
        assert got["predicted"] == sc["predicted"] and got["allocation"] == sc["allocation"]
        assert got["workspace"] == ws.id  # keyed by the stable id, not the folder path
        assert c.get(f"/api/get_scenario/{sc['id']}", headers=h).json() == got
        # the CLI's current spend came from the warehouse: 20% of a moved to b
        assert sc["allocation"][a] == pytest.approx(0.8 * sc["current"][a], rel=1e-12)
        assert sc["current"][a] > 0 and sc["current"][b] > 0
    # nothing of the workspace went to the server's store
    assert service.list_scenarios(ws) == listed
    from spendlab.plan import store as plan_store

    assert plan_store.list_curve_set_rows(state.store.engine, ws.id) == []
    assert plan_store.list_scenario_rows(state.store.engine, ws.id) == []
    state.close()


def test_moving_the_folder_keeps_curve_sets_and_scenarios(cli_planned, tmp_path):
    path, cs, sc, _ = cli_planned
    app = _server(tmp_path, path)
    state = app.state.spendlab
    moved = tmp_path / "elsewhere" / "renamed-ws"
    moved.parent.mkdir()
    shutil.move(path, moved)
    state.workspaces.ensure("demo", moved)
    assert state.workspaces.get("demo").path == str(moved.resolve())
    with TestClient(app) as c:
        h = login(c, "vic")
        sets = c.get(f"{PLAN}/curve-sets", headers=h).json()["items"]
        assert [s["id"] for s in sets] == [cs["id"]]
        assert [s["id"] for s in c.get(f"{PLAN}/scenarios", headers=h).json()["items"]] == [
            sc["id"]
        ]
    state.close()
    # a new server that registers the new path, and the CLI there, see them too
    fresh = _server(tmp_path, moved, name="again")
    with TestClient(fresh) as c:
        h = login(c, "vic")
        got = c.get(f"/api/v1/workspaces/again/plan/scenarios/{sc['id']}", headers=h)
        assert got.status_code == 200 and got.json()["predicted"] == sc["predicted"]
    fresh.state.spendlab.close()
    r = CliRunner().invoke(cli, ["plan", "curves", "list", "--workspace", str(moved), "--json"])
    assert [s["name"] for s in json.loads(r.stdout)] == ["from the cli"]


def test_cli_and_rest_plan_context_are_the_same(cli_planned, tmp_path):
    path, _, sc, (a, b) = cli_planned
    app = _server(tmp_path, path)
    ws = Workspace.open(path)
    ctx = service.context(ws)
    assert ctx.current == sc["current"] and ctx.sources == {a: "warehouse", b: "warehouse"}
    runner = CliRunner()
    w = ["--workspace", str(path), "--json"]
    preview = json.loads(runner.invoke(cli, ["plan", "scenario", "create", "p", "--no-save",
                                             "--op", f"set {a} to 100", *w]).stdout)  # fmt: skip
    cli_frontier = json.loads(runner.invoke(cli, ["plan", "frontier", "--points", "5", *w]).stdout)
    with TestClient(app) as c:
        ana = login(c, "ana")
        body = {"name": "p", "operations": [{"op": "set", "channel": a, "value": 100}]}
        rest = c.post(f"{PLAN}/scenarios", json=body, headers=ana).json()
        opt = c.post(f"{PLAN}/optimize", json={}, headers=ana).json()
        rec = c.get("/api/get_recommendations", params={"workspace": "demo"}, headers=ana).json()
        rest_frontier = c.get(f"{PLAN}/frontier", params={"points": 5}, headers=ana).json()
    # the same current spend, window, baseline and prediction, to the last digit
    assert preview["current"] == rest["current"] == opt["current"] == ctx.current
    assert opt["current_window"] == list(ctx.window) and rec["budget"] == opt
    assert preview["baseline"] == rest["baseline"]
    assert preview["predicted"] == rest["predicted"] and rest["allocation"][a] == 100.0
    assert cli_frontier == rest_frontier
    assert cli_frontier["current_budget"] == pytest.approx(sum(ctx.current.values()), rel=1e-15)
    app.state.spendlab.close()


def test_get_scenario_alias_across_workspaces(cli_planned, tmp_path, demo_template):
    """Each workspace store numbers its scenarios from 1: the alias finds the one workspace that
    has an id, and asks which workspace is meant when two have it."""
    path, _, sc, (a, b) = cli_planned
    other = tmp_path / "other"
    shutil.copytree(demo_template, other)
    app = _server(tmp_path, path)
    row = app.state.spendlab.workspaces.register("other", other)
    for user, role in (("ana", "analyst"), ("vic", "viewer")):
        grant(app.state.spendlab.store, user, row, role, by="test")
    with TestClient(app) as c:
        ana = login(c, "ana")
        assert c.get(f"/api/get_scenario/{sc['id']}", headers=ana).json()["name"] == "cli shift"
        curves = [{"id": a, "curve": {"type": "hill", "params": {"beta": 5, "half": 1, "s": 1}}}]
        f = tmp_path / "other.json"
        f.write_text(json.dumps(curves))
        service.import_curves(Workspace.open(other), f, "other curves")
        made = c.post("/api/create_scenario", json={"workspace": "other", "name": "o"},
                      headers=ana).json()  # fmt: skip
        assert made["id"] == sc["id"]  # numbered per workspace store
        both = c.get(f"/api/get_scenario/{sc['id']}", headers=ana)
        assert both.status_code == 400 and "several workspaces" in both.json()["error"]["message"]
        mine = c.get(f"/api/get_scenario/{sc['id']}", params={"workspace": "other"}, headers=ana)
        assert mine.json()["name"] == "o"
        assert c.get("/api/get_scenario/99", headers=ana).status_code == 404
    app.state.spendlab.close()
