"""Fit a marketing-mix model on a workspace, record the run and publish its response curves as
the workspace's active curve set when the model passes its gate (:mod:`spendlab.measure.mmm.
gate`; a failing fit is stored, not activated, unless forced): the one "fit and publish" use
case. ``spendlab mmm fit``
(:func:`fit_workspace`), ``POST /api/v1/workspaces/{ws}/mmm/fits`` and the dashboard's Fit
button (:func:`queue_fit`, a background job) all end in :func:`run_fit`.

    plan = service.prepare_fit(ws, fast=True)    # measure.mmm.service: bad input fails here
    result = fit_plan(ws, plan, user="ana")      # fit + record + publish, in this process
    queue_fit(ws, plan, user="ana", submit=...)  # the same, as a background job

Why it lives in ``plan`` and not in ``measure.mmm.service``: ``measure`` sits below ``plan`` in
the layer contract (pyproject.toml, ``[tool.importlinter]``), and a curve set is planning's
(:func:`spendlab.plan.curvesets.save_mmm_curves`). So the use case that ends by publishing sits
in ``plan`` and calls the measure service for everything before it (``prepare_fit``,
``start_fit``, ``fit_run``). A ``publish`` callback handed down to ``measure`` would work too,
but every interface would then have to wire it, which is the duplication this module removes.

Error policy (one, for every interface):

- bad input (unknown KPI or channel, empty tables, unknown option) fails in ``prepare_fit``,
  before a run is recorded: the CLI exits with the error's code, REST answers 4xx;
- a failed fit or save marks the run ``failed`` with the reason and raises: the CLI exits
  non-zero, a job fails with the same reason;
- a failed publish (a :class:`~spendlab.errors.SpendLabError` while saving the curve set) leaves
  the run ``succeeded`` (the model is fine; planning keeps its previous active curve set): the
  result says ``curve_set: None`` and ``curve_set_error``: why. Other exceptions (bugs) raise;
- a fit that fails its gate is not an error: the run ``succeeded``, its curve set is stored
  but not active, and the result says ``activated: false``, the ``gate`` checks and ``advice``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spendlab.core.faults import checkpoint
from spendlab.errors import NotFoundError, SpendLabError
from spendlab.measure.mmm import service, store

if TYPE_CHECKING:
    from spendlab.measure.mmm.estimator import MMM
    from spendlab.measure.mmm.service import FitPlan, Progress
    from spendlab.workspace import Workspace

#: ``work(progress) -> result``: what a background job runs
Work = Callable[["Progress"], dict[str, Any]]
#: ``submit(work, params=...) -> job_id``: hands the work to a job runner (the server's
#: ``functools.partial(state.jobs.submit, "mmm_fit", workspace_id=..., user=...)``)
Submit = Callable[..., str]


def publish_curves(
    ws: Workspace,
    plan: FitPlan,
    run_id: str,
    model: MMM,
    *,
    activate: bool = False,
    user: str = "",
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate the model's gate (:func:`spendlab.measure.mmm.gate.gate`), store the run's
    response curves as a curve set and make it the workspace's active one (``plan optimize``,
    scenarios and the Plan page use it) only when the gate passes or ``activate`` forces it
    (recorded in the set's meta and the run). Returns ``gate`` (passed, checks, failed),
    ``activated``, ``forced``, ``advice`` (what to do when not activated) and ``curve_set``
    ``{id, name, period, active}``, or ``curve_set: None`` and ``curve_set_error`` when it cannot
    be saved. ``gate`` also carries ``activated``, ``forced``, ``by`` and ``curve_set_id`` and
    is stored in the run's summary, so the run detail says the same."""
    from spendlab.measure.mmm.gate import gate, gate_input
    from spendlab.plan.curvesets import save_mmm_curves

    verdict = gate(gate_input(model, summary))
    go = verdict.passed or activate
    forced = go and not verdict.passed
    out: dict[str, Any] = {"gate": verdict.to_dict(), "activated": False, "forced": False}
    try:
        cs = save_mmm_curves(
            ws.store.engine,
            ws.id,
            run_id,
            model,
            plan.frequency or "daily",
            plan.members,
            gate=out["gate"],
            activate=go,
            forced_by=user if forced else None,
        )
    except SpendLabError as e:
        out |= {"curve_set": None, "curve_set_error": str(e)}
    else:
        out |= {"activated": go, "forced": forced}
        out["curve_set"] = {"id": cs.id, "name": cs.name, "period": cs.period, "active": go}
    if not out["activated"] and out["curve_set"] is not None:
        out["advice"] = (
            "not activated: the previously active curve set stays in use. Fix what the failed "
            "checks say and refit, or force it with `spendlab mmm fit --activate` / "
            f"`spendlab plan curves activate {out['curve_set']['id']} --force` (recorded)"
        )
    out["gate"] |= {
        "activated": out["activated"],
        "forced": out["forced"],
        "by": user if out["forced"] else None,
        "curve_set_id": (out.get("curve_set") or {}).get("id"),
    }
    try:
        store.annotate_run(ws, run_id, gate=out["gate"])
    except NotFoundError:  # curves of a model that is not indexed (Python API): nothing to record
        pass
    return out


def run_fit(
    ws: Workspace,
    plan: FitPlan,
    run_id: str,
    progress: Progress | None = None,
    *,
    run_dir: str | Path | None = None,
    progress_bar: bool = False,
    activate: bool = False,
    user: str = "",
) -> dict[str, Any]:
    """Fit a started run, save its files, mark it succeeded and publish its curves (a fit of the
    canonical tables), active only when the model passes its gate or ``activate`` forces it.
    Returns ``run_id``, ``fit_seconds`` and :func:`publish_curves`'s ``gate``, ``activated``,
    ``forced``, ``curve_set`` (plus ``curve_set_error`` when publishing failed and ``advice``
    when not activated; see the module's error policy)."""
    model, run = service.fit_run(
        ws, plan, run_id, progress, run_dir=run_dir, progress_bar=progress_bar
    )
    result: dict[str, Any] = {"run_id": run_id, "fit_seconds": run["summary"]["fit_seconds"]}
    if plan.publishes_curves:
        result |= publish_curves(
            ws, plan, run_id, model, activate=activate, user=user, summary=run["summary"]
        )
    return result


def fit_plan(
    ws: Workspace,
    plan: FitPlan,
    *,
    user: str = "",
    run_dir: str | Path | None = None,
    progress_bar: bool = False,
    activate: bool = False,
) -> dict[str, Any]:
    """Start, fit and publish in this process. Returns the stored summary (per channel iROAS,
    health, ``gate``, ... and ``input``) with ``run_id``, ``run`` (the folder), ``curve_set``
    and ``activated``."""
    run_id = service.start_fit(ws, plan, user=user)
    result = run_fit(
        ws, plan, run_id, run_dir=run_dir, progress_bar=progress_bar, activate=activate, user=user
    )
    run = service.get_run(ws, run_id)
    return {**run["summary"], "run_id": run_id, "run": str(store.run_path(ws, run)), **result}


def fit_workspace(
    ws: Workspace,
    *,
    user: str = "",
    run_dir: str | Path | None = None,
    progress_bar: bool = False,
    activate: bool = False,
    **inputs: Any,
) -> dict[str, Any]:
    """:func:`~spendlab.measure.mmm.service.prepare_fit` (``inputs``: kpi, channel_by, ...,
    and the fit options) then :func:`fit_plan`: the whole use case in one call."""
    plan = service.prepare_fit(ws, **inputs)
    return fit_plan(
        ws, plan, user=user, run_dir=run_dir, progress_bar=progress_bar, activate=activate
    )


def queue_fit(
    ws: Workspace, plan: FitPlan, *, user: str, submit: Submit, activate: bool = False
) -> dict[str, Any]:
    """Start the run now and fit it in a background job (``submit``); returns ``job_id``,
    ``run_id`` and ``input`` (what was built). The job's result is :func:`run_fit`'s
    (``activate`` forces activation past the gate)."""
    run_id = service.start_fit(ws, plan, user=user)

    def work(progress: Progress) -> dict[str, Any]:
        checkpoint("mmm.fit")  # test hook (core/faults.py): the job runs, the run is running
        return run_fit(ws, plan, run_id, progress, activate=activate, user=user)

    params = {"run_id": run_id, **plan.request, **({"activate": True} if activate else {})}
    try:
        job_id = submit(work, params=params)
    except BaseException as e:
        store.fail_run(ws, run_id, service.failure_reason(e))
        raise
    store.set_job(ws, run_id, job_id)
    return {"job_id": job_id, "run_id": run_id, "input": plan.describe()}


__all__ = ["fit_plan", "fit_workspace", "publish_curves", "queue_fit", "run_fit"]
