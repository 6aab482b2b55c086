"""The "fit, record the run, publish the curves" use case (spendlab.plan.mmm_fit) and its one
error policy, on the shared small fit (tests/measure/mmm/shared_run.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from spendlab.errors import ConfigError
from spendlab.measure.mmm import service
from spendlab.plan.curvesets import list_curve_sets, load_curve_set
from spendlab.plan.mmm_fit import fit_workspace, publish_curves, queue_fit
from spendlab.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parents[1] / "measure" / "mmm"))
from shared_run import copy_workspace, fitted_workspace


@pytest.fixture
def ws(tmp_path_factory, tmp_path) -> tuple[Workspace, dict]:
    """A moved copy of the CLI-fitted workspace, with its store (run and curve set)."""
    src, payload = fitted_workspace(tmp_path_factory)
    return Workspace.open(copy_workspace(src, tmp_path / "ws", with_store=True)), payload


def test_a_failed_publish_leaves_the_run_and_the_active_curve_set(ws):
    """Publishing is the last step: when the curve set cannot be saved, the result says why
    (``curve_set: None``, ``curve_set_error``) and planning keeps its active set."""
    ws, payload = ws
    model = service.load_model(ws, payload["run_id"])
    plan = service.prepare_fit(ws, controls=["price", "promotion"], fast=True)
    before = load_curve_set(ws.store.engine, ws.id)
    got = publish_curves(ws, plan, "x" * 300, model)  # the name "MMM run x..." is too long
    assert got == {
        "curve_set": None,
        "curve_set_error": "a curve set needs a name of 1-200 characters",
    }
    assert load_curve_set(ws.store.engine, ws.id).id == before.id
    assert len(list_curve_sets(ws.store.engine, ws.id)) == 1
    ok = publish_curves(ws, plan, payload["run_id"], model)
    assert (
        ok["curve_set"]["name"] == f"MMM run {payload['run_id']}"
        and ok["curve_set"]["period"] == "day"
    )
    assert load_curve_set(ws.store.engine, ws.id).id == ok["curve_set"]["id"] != before.id


def test_a_failed_fit_is_recorded_failed_with_the_reason_and_publishes_nothing(ws):
    ws, payload = ws
    with pytest.raises(ConfigError, match="holdout 100 leaves no data") as e:
        fit_workspace(ws, fast=True, holdout=100, controls=[])
    runs = service.list_runs(ws)
    assert [r["status"] for r in runs] == ["failed", "succeeded"]
    assert runs[0]["error"] == str(e.value) and runs[0]["source"] == "workspace"
    assert len(list_curve_sets(ws.store.engine, ws.id)) == 1  # only the CLI fit's
    # bad input fails before a run is recorded
    with pytest.raises(ConfigError, match="KPI 'profit' is not in the outcomes table"):
        fit_workspace(ws, kpi="profit", fast=True)
    assert len(service.list_runs(ws)) == 2


def test_a_job_that_cannot_be_queued_fails_its_run(ws):
    ws, _ = ws
    plan = service.prepare_fit(ws, fast=True)

    def full(work, params):
        raise ConfigError("the job queue is full; try again later")

    with pytest.raises(ConfigError, match="queue is full"):
        queue_fit(ws, plan, user="ana", submit=full)
    newest = service.list_runs(ws)[0]
    assert newest["status"] == "failed" and newest["created_by"] == "ana"
    assert newest["error"] == "the job queue is full; try again later"
