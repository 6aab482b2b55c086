"""MMM over REST: fit jobs, runs and their outputs, predict_roi; on one shared small fit."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from spendlab.measure.mmm import store as runs

from .conftest import login

sys.path.insert(0, str(Path(__file__).parents[1] / "measure" / "mmm"))
from shared_run import CONTROLS, copy_workspace, fitted_workspace

BASE = "/api/v1/workspaces/mmm/mmm"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return fitted_workspace(tmp_path_factory)


@pytest.fixture
def mmm(app_factory, shared, tmp_path):
    """A server with the fitted workspace registered as ``mmm`` and its run indexed."""
    src, payload = shared
    ws = copy_workspace(src, tmp_path / "mmm-ws")
    app = app_factory()
    state = app.state.spendlab
    state.workspaces.register("mmm", ws)
    run = runs.register_run(state.store.engine, ws, ws / "mmm" / "runs" / payload["run_id"],
                            payload, source="workspace")  # fmt: skip
    with TestClient(app) as c:
        yield c, run, payload, state


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
    new = c.get(f"{BASE}/runs/{started['run_id']}", headers=h).json()
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
    engine = state.store.engine
    rid = runs.start_run(engine, run["workspace"], run["config"], source="workspace")
    with state.store.session() as s:
        s.add(Job(id="j-cut", kind="mmm_fit", status="running", params={"run_id": rid}))
    runs.set_job(engine, rid, "j-cut")
    JobRunner(state.store).shutdown()  # a new server process: interrupted jobs fail
    h = login(c, "vic")
    got = c.get(f"{BASE}/runs", headers=h).json()["items"]
    cut = next(r for r in got if r["id"] == rid)
    assert cut["status"] == "failed" and "server stopped" in cut["error"]
