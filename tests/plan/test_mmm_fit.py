"""The "fit, record the run, publish the curves" use case (spendlab.plan.mmm_fit) and its one
error policy, on the shared small fit (tests/measure/mmm/shared_run.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from spendlab.errors import ConfigError
from spendlab.measure.mmm import service
from spendlab.plan import service as plan_service
from spendlab.plan.curvesets import list_curve_sets, load_curve_set, save_curve_set, truth_frames
from spendlab.plan.mmm_fit import fit_workspace, publish_curves, queue_fit
from spendlab.plan.service import activate_curve_set
from spendlab.simulate import SimConfig, simulate
from spendlab.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parents[1] / "measure" / "mmm"))
from shared_run import copy_workspace, fitted_workspace

#: the shared fit's options (a fast fit of the shared 70-day market)
FAST = {"fast": True, "draws": 100, "yearly_order": 0, "controls": ["price", "promotion"]}


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
    assert got["curve_set"] is None and got["activated"] is False
    assert got["curve_set_error"] == "a curve set needs a name of 1-200 characters"
    assert load_curve_set(ws.store.engine, ws.id).id == before.id
    assert len(list_curve_sets(ws.store.engine, ws.id)) == 1
    # the fast fit fails its gate: stored, not activated, unless forced
    kept = publish_curves(ws, plan, payload["run_id"], model)
    assert kept["curve_set"]["name"] == f"MMM run {payload['run_id']}"
    assert kept["curve_set"]["period"] == "day" and kept["curve_set"]["active"] is False
    assert load_curve_set(ws.store.engine, ws.id).id == before.id
    ok = publish_curves(ws, plan, payload["run_id"], model, activate=True, user="ana")
    assert ok["activated"] and ok["forced"] and ok["gate"]["by"] == "ana"
    assert load_curve_set(ws.store.engine, ws.id).id == ok["curve_set"]["id"] != before.id


def test_a_fit_that_fails_its_gate_is_stored_not_activated_and_says_why(ws):
    """The demo's situation: the simulator's true curves are the active set; a default fit
    that fails its gate (here a fast fit, which never passes, and one channel's iROAS 6.2 where
    the truth is 1.04) is stored beside them, not activated, and every record says why.
    Planning's activate refuses it unless forced; forcing is recorded."""
    ws, _ = ws
    market = simulate(SimConfig(seed=3, days=70, campaigns=8, users=300, customers=100))
    frame, meta = truth_frames(market.truth)["channels"]
    truth = save_curve_set(ws.store.engine, ws.id, "truth", frame, "day", "simulator", meta)
    got = fit_workspace(ws, user="ana", **FAST)
    assert got["activated"] is False and got["forced"] is False
    assert got["gate"]["passed"] is False
    assert got["gate"]["failed"] == [
        "inference = laplace (bound nuts)",
        "iroas[microsoft] = 6.214 (bound <= 4.73)",
    ]
    assert "previously active curve set stays in use" in got["advice"]
    assert load_curve_set(ws.store.engine, ws.id).id == truth.id  # the truth stays active
    assert plan_service.context(ws).cs.id == truth.id  # what recommendations and the Plan use
    stored = load_curve_set(ws.store.engine, ws.id, got["curve_set"]["id"])
    assert stored.meta["gate"] == {"passed": False, "failed": got["gate"]["failed"]}
    assert not stored.active and "activation" not in stored.meta
    run = service.get_run(ws, got["run_id"])
    assert run["summary"]["gate"]["activated"] is False
    assert run["summary"]["gate"]["curve_set_id"] == stored.id
    # planning's "activate a curve set" refuses it, then records a forced activation
    with pytest.raises(ConfigError, match=rf"curve set {stored.id} .*failed its model gate"):
        activate_curve_set(ws, stored.id)
    assert load_curve_set(ws.store.engine, ws.id).id == truth.id
    forced = activate_curve_set(ws, stored.id, force=True, user="ben")
    assert forced["active"] and forced["meta"]["activation"]["forced"] is True
    assert forced["meta"]["activation"]["by"] == "ben"
    # a set that never had a gate (the truth) activates as before
    assert activate_curve_set(ws, truth.id)["active"]


def test_activate_forces_a_failing_fit_and_records_it(ws):
    ws, _ = ws
    got = fit_workspace(ws, user="ana", activate=True, **FAST)
    assert got["activated"] is True and got["forced"] is True and "advice" not in got
    cs = load_curve_set(ws.store.engine, ws.id)
    assert cs.id == got["curve_set"]["id"]
    assert cs.meta["activation"]["forced"] is True and cs.meta["activation"]["by"] == "ana"
    gate = service.get_run(ws, got["run_id"])["summary"]["gate"]
    assert gate["forced"] is True and gate["by"] == "ana" and gate["passed"] is False


def test_a_fit_backed_by_lift_tests_passes_every_check_but_inference(ws):
    """A healthy fit: the same market with each platform's iROAS prior set from its true value
    (what a lift test gives, sd 30%). Every check passes except ``inference``: a fast fit has no
    convergence evidence, so only NUTS (or --activate) can make it the active set."""
    ws, _ = ws
    market = simulate(SimConfig(seed=3, days=70, campaigns=8, users=300, customers=100))
    spend: dict[str, float] = {}
    contribution: dict[str, float] = {}
    for c in market.truth["channels"].values():
        spend[c["platform"]] = spend.get(c["platform"], 0.0) + c["spend"]
        contribution[c["platform"]] = contribution.get(c["platform"], 0.0) + c["contribution"]
    prior = {p: (contribution[p] / spend[p], 0.3 * contribution[p] / spend[p]) for p in spend}
    got = fit_workspace(ws, iroas_prior=prior, **FAST)
    assert got["gate"]["failed"] == ["inference = laplace (bound nuts)"]
    statuses = {(c["check"], c.get("channel")): c["status"] for c in got["gate"]["checks"]}
    assert {k: v for k, v in statuses.items() if v != "SKIP"} == {
        ("inference", None): "FAIL",
        **{(check, ch): "PASS" for ch in prior for check in ("iroas", "curve_shape")},
    }
    for ch, (mean, _) in prior.items():
        assert got["channels"][ch]["iroas"]["mean"] == pytest.approx(mean, rel=0.6)


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
