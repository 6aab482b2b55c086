"""MMM over REST: fit jobs, runs and their outputs, predict_roi; on one shared small fit (made
with the CLI). A fit through the CLI and through REST store the same records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from spendlab.measure.mmm import service
from spendlab.measure.mmm import store as runs
from spendlab.workspace import Workspace

from .conftest import login, register

sys.path.insert(0, str(Path(__file__).parents[1] / "measure" / "mmm"))
from shared_run import CONTROLS, FIT_ARGS, copy_workspace, fitted_workspace

BASE = "/api/v1/workspaces/mmm/mmm"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return fitted_workspace(tmp_path_factory)


@pytest.fixture
def mmm(app_factory, shared, tmp_path):
    """A server with its own server store and the CLI-fitted workspace registered as ``mmm``
    (copied with its store: the CLI's run is there, no store flag anywhere)."""
    src, payload = shared
    ws = copy_workspace(src, tmp_path / "mmm-ws", with_store=True)
    app = app_factory()
    state = app.state.spendlab
    register(state, "mmm", ws)
    run = service.get_run(state.workspaces.handle("mmm"), payload["run_id"])
    with TestClient(app) as c:
        yield c, run, payload, state


def test_a_cli_fit_is_served_by_a_server_with_another_store(mmm):
    """The CLI wrote the run to the workspace's store; a server whose own store is elsewhere
    lists it and serves it (rows are keyed by the workspace's id, so the moved copy keeps them)."""
    c, run, payload, state = mmm
    ws = state.workspaces.handle("mmm")
    assert state.store.url != ws.store.url and ws.store.url.endswith("mmm-ws/app.db")
    h = login(c, "vic")
    listed = c.get(f"{BASE}/runs", headers=h).json()
    assert [r["id"] for r in listed["items"]] == [payload["run_id"]]
    assert listed["items"][0]["source"] == "workspace" and listed["items"][0]["workspace"] == ws.id
    got = c.get(f"{BASE}/runs/{payload['run_id']}", headers=h).json()
    assert got["summary"]["channels"] == payload["channels"]
    with state.store.engine.connect() as con:  # the server's store holds no MMM run
        assert con.execute(sa.select(sa.func.count()).select_from(runs.runs)).scalar() == 0


def test_runs_and_their_outputs(mmm):
    c, run, payload, _ = mmm
    h = login(c, "vic")
    listed = c.get(f"{BASE}/runs", headers=h).json()
    assert listed["total"] == 1 and listed["items"][0]["status"] == "succeeded"
    got = c.get(f"{BASE}/runs/{run['id']}", headers=h).json()
    for ch, r in payload["channels"].items():
        assert got["summary"]["channels"][ch]["iroas"] == pytest.approx(r["iroas"])
        assert set(got["summary"]["channels"][ch]["mroas"]) == {"mean", "lo", "hi"}
        assert 0 <= got["summary"]["channels"][ch]["contribution_share"] <= 1
    assert {x["status"] for x in got["summary"]["health"]} <= {"PASS", "REVIEW", "FAIL"}
    assert {"rhat_max", "ess_bulk_min", "divergences"} <= set(got["summary"]["diagnostics"])
    # the decomposition adds up to the fitted mean, period by period
    dec = c.get(f"{BASE}/runs/{run['id']}/decomposition", headers=h).json()["items"]
    fit = c.get(f"{BASE}/runs/{run['id']}/fitted", headers=h).json()["items"]
    total: dict[str, float] = {}
    for row in dec:
        total[row["date"]] = total.get(row["date"], 0.0) + row["mean"]
    assert len(fit) == len(total) == 70
    for row in fit:
        assert total[row["date"]] == pytest.approx(row["mean"], rel=1e-5)
        assert row["lo"] < row["mean"] < row["hi"]
    ad = c.get(f"{BASE}/runs/{run['id']}/adstock", headers=h).json()["items"]
    for ch in payload["channels"]:
        assert sum(r["mean"] for r in ad if r["channel"] == ch) == pytest.approx(1.0, rel=1e-6)
    assert c.get(f"{BASE}/runs/nope/fitted", headers=h).status_code == 404


def _hill(p: list[dict], x: float) -> np.ndarray:
    beta, half, s = (np.array([r[k] for r in p]) for k in ("beta", "half", "s"))
    return beta * x**s / (x**s + half**s)


def test_curves_for_planning_and_predict_roi_agree(mmm):
    c, run, payload, _ = mmm
    h = login(c, "vic")
    cv = c.get(f"{BASE}/runs/{run['id']}/curves?points=11", headers=h).json()
    params, grid = cv["params"], cv["curves"]
    assert len(params) == 100 * len(payload["channels"])  # one curve per channel and draw
    ch = "meta"
    p = [r for r in params if r["channel"] == ch]
    cur = next(r for r in grid if r["channel"] == ch and r["current"])
    # the planner's parameterization reproduces the curve (mean over draws)
    assert _hill(p, cur["spend"]).mean() == pytest.approx(cur["mean"], rel=1e-5)
    # predict_roi at the average spend (channels left out keep it) sits on the same curve
    r = c.post("/api/predict_roi", json={"workspace": "mmm", "spend": {}}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run_id"] == run["id"] and body["interval"] == 0.9
    m = body["channels"][ch]
    assert m["spend_from"] == "average" and m["spend"] == pytest.approx(cur["spend"])
    assert m["response"]["mean"] == pytest.approx(cur["mean"], rel=1e-5)
    assert m["iroas"]["mean"] == pytest.approx(cur["mean"] / cur["spend"], rel=1e-5)
    o = body["outcome"]
    assert o["lo"] <= o["mean"] <= o["hi"] and o["mean"] > body["media_response"]["mean"]
    # twice the spend: more response, and (saturation) less than twice as much
    r2 = c.post("/api/predict_roi", json={"workspace": "mmm", "run_id": run["id"],
                                          "spend": {ch: 2 * cur["spend"]}}, headers=h)  # fmt: skip
    m2 = r2.json()["channels"][ch]
    assert m2["spend_from"] == "plan"
    assert m["response"]["mean"] < m2["response"]["mean"] < 2 * m["response"]["mean"]
    assert np.allclose(_hill(p, 2 * cur["spend"]).mean(), m2["response"]["mean"], rtol=1e-5)
    bad = c.post("/api/predict_roi", json={"workspace": "mmm", "spend": {"tv": 5}}, headers=h)
    assert bad.status_code == 400 and "not in this model" in bad.json()["error"]["message"]
    neg = c.post("/api/predict_roi", json={"workspace": "mmm", "spend": {ch: -1}}, headers=h)
    assert neg.status_code == 422
    other = c.post("/api/predict_roi", json={"workspace": "demo", "run_id": run["id"],
                                             "spend": {}}, headers=h)  # fmt: skip
    assert other.status_code == 404  # a run of another workspace


@pytest.mark.slow  # one real (small, fast-mode) fit through the job runner: ~10-15 s of CPU
def test_fit_job_runs_in_the_background_and_is_indexed(mmm):
    c, run, payload, state = mmm
    h = login(c, "ana")
    bad = c.post(f"{BASE}/fits", json={"channels": ["tv"]}, headers=h)
    assert bad.status_code == 400 and "not found in ad_performance" in bad.text
    # accepted (the input is fine) but the fit fails: the job and the run say why
    r = c.post(f"{BASE}/fits", json={"holdout": 100, "fast": True}, headers=h)
    assert r.status_code == 202, r.text
    job = state.jobs.wait(r.json()["job_id"], timeout=120)
    assert job["status"] == "failed" and "holdout" in job["error"]
    failed = c.get(f"{BASE}/runs/{r.json()['run_id']}", headers=h).json()
    assert failed["status"] == "failed" and "holdout" in failed["error"]
    # the same fit as the shared run, through the job runner
    body = {"fast": True, "draws": 100, "yearly_order": 0, "controls": list(CONTROLS)}
    r = c.post(f"{BASE}/fits", json=body, headers=h)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["input"]["periods"] == 70 and started["input"]["frequency"] == "daily"
    state.jobs.wait(started["job_id"], timeout=600)
    job = c.get(f"/api/v1/jobs/{started['job_id']}", headers=h).json()
    assert job["status"] == "succeeded", job
    assert job["kind"] == "mmm_fit" and job["progress"] == 1.0
    assert job["result"]["run_id"] == started["run_id"]
    assert job["result"]["curve_set"]["name"] == f"MMM run {started['run_id']}"
    # a fast fit fails its gate: its curves are stored, not active, and the job says why
    assert job["result"]["activated"] is False and job["result"]["curve_set"]["active"] is False
    assert job["result"]["gate"]["failed"][0] == "inference = laplace (bound nuts)"
    assert "--activate" in job["result"]["advice"]
    new = c.get(f"{BASE}/runs/{started['run_id']}", headers=h).json()
    assert new["summary"]["gate"] == job["result"]["gate"]  # the run detail says the same
    assert new["status"] == "succeeded" and new["created_by"] == "ana"
    assert new["data_hash"] == run["data_hash"]  # the same input frame as the CLI built
    for ch, x in payload["channels"].items():  # same data, config and seed: same answer
        assert new["summary"]["channels"][ch]["iroas"]["mean"] == pytest.approx(
            x["iroas"]["mean"], rel=1e-3
        )
    latest = c.post("/api/predict_roi", json={"workspace": "mmm", "spend": {}}, headers=h)
    assert latest.json()["run_id"] == started["run_id"]  # the newest successful run
    assert c.get(f"{BASE}/runs?status=failed", headers=h).json()["total"] == 1


def test_a_fit_cut_off_by_a_restart_is_reported_failed(mmm):
    from spendlab.app.jobs import JobRunner
    from spendlab.app.store import Job

    c, run, _, state = mmm
    ws = state.workspaces.handle("mmm")
    rid = runs.start_run(ws, run["config"], source="workspace")
    with state.store.session() as s:
        s.add(Job(id="j-cut", kind="mmm_fit", status="running", params={"run_id": rid}))
    runs.set_job(ws, rid, "j-cut")
    JobRunner(state.store).shutdown()  # a new server process: interrupted jobs fail
    h = login(c, "vic")
    got = c.get(f"{BASE}/runs", headers=h).json()["items"]
    cut = next(r for r in got if r["id"] == rid)
    assert cut["status"] == "failed" and "server stopped" in cut["error"]


#: what differs between two records of the same fit: who, when, how it was started, where
_BOOKKEEPING = {"id", "created_at", "finished_at", "created_by", "source", "job_id", "path"}


def _runs(ws: Workspace) -> list[dict]:
    with ws.store.engine.connect() as con:
        rows = con.execute(sa.select(runs.runs).order_by(runs.runs.c.created_at)).mappings()
        return [dict(r) for r in rows]


@pytest.mark.slow  # two small fast-mode fits (~10-15 s of CPU each, less with a warm JIT cache)
def test_the_same_fit_through_the_cli_and_rest_stores_identical_records(
    app_factory, shared, tmp_path
):
    """``spendlab mmm fit --workspace W`` and ``POST .../mmm/fits`` with the same options call
    the same use case: the two ``mmm_runs`` rows agree on everything but bookkeeping (config,
    data hash, status, code version, summary to the last digit), and so do the two curve
    sets they published."""
    from spendlab.cli.main import app as cli
    from spendlab.plan.curvesets import load_curve_set

    src, _ = shared
    folder = copy_workspace(src, tmp_path / "same-ws")  # no store: no run yet
    res = CliRunner().invoke(cli, ["mmm", "fit", "--workspace", str(folder), *FIT_ARGS, "--json"])
    assert res.exit_code == 0, res.output
    by_cli = json.loads(res.stdout)
    server = app_factory()
    state = server.state.spendlab
    register(state, "same", folder)
    body = {"fast": True, "draws": 100, "yearly_order": 0, "controls": list(CONTROLS)}
    body["activate"] = True  # as FIT_ARGS' --activate: a fast fit fails its gate
    with TestClient(server) as c:
        r = c.post("/api/v1/workspaces/same/mmm/fits", json=body, headers=login(c, "ana"))
        assert r.status_code == 202, r.text
        job = state.jobs.wait(r.json()["job_id"], timeout=600)
    assert job["status"] == "succeeded", job
    by_rest = job["result"]
    ws = state.workspaces.handle("same")
    cli_row, rest_row = _runs(ws)
    assert (cli_row["id"], rest_row["id"]) == (by_cli["run_id"], by_rest["run_id"])
    assert (cli_row["source"], cli_row["job_id"]) == ("workspace", None)
    assert (rest_row["created_by"], rest_row["job_id"]) == ("ana", r.json()["job_id"])
    for key in set(cli_row) - _BOOKKEEPING - {"summary"}:
        assert cli_row[key] == rest_row[key], key
    assert cli_row["status"] == "succeeded" and cli_row["data_hash"]
    assert json.loads(cli_row["config"])["fast"] is True
    cli_sum, rest_sum = json.loads(cli_row["summary"]), json.loads(rest_row["summary"])
    assert cli_sum.pop("fit_seconds") > 0 and rest_sum.pop("fit_seconds") > 0
    gates = cli_sum.pop("gate"), rest_sum.pop("gate")  # who forced it and which set: bookkeeping
    assert [g["by"] for g in gates] == ["", "ana"] and all(g["forced"] for g in gates)
    assert [{k: v for k, v in g.items() if k not in ("by", "curve_set_id")} for g in gates][0] == {
        k: v for k, v in gates[1].items() if k not in ("by", "curve_set_id")
    }
    assert cli_sum == rest_sum  # per channel iROAS / mROAS, health, input: identical
    assert set(cli_sum["channels"]) == {"google_ads", "meta", "microsoft"}
    # the curve sets: the REST one (newer) is active; both hold the same curves and members
    sets = {
        name: load_curve_set(ws.store.engine, ws.id, got["curve_set"]["id"])
        for name, got in (("cli", by_cli), ("rest", by_rest))
    }
    assert load_curve_set(ws.store.engine, ws.id).id == sets["rest"].id
    assert sets["cli"].name == f"MMM run {by_cli['run_id']}"
    for attr in ("period", "source"):
        assert getattr(sets["cli"], attr) == getattr(sets["rest"], attr)
    pd.testing.assert_frame_equal(sets["cli"].frame, sets["rest"].frame)
    assert sets["cli"].meta["members"] == sets["rest"].meta["members"]
    assert sets["cli"].meta["draws"] == sets["rest"].meta["draws"] == 100
