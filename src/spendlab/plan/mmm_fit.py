"""Fit a marketing-mix model on a workspace, record the run and publish its response curves as
the workspace's active curve set: the one "fit and publish" use case. ``spendlab mmm fit``
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
  result says ``curve_set: None`` and ``curve_set_error``: why. Other exceptions (bugs) raise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spendlab.core.faults import checkpoint
from spendlab.errors import SpendLabError
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


def publish_curves(ws: Workspace, plan: FitPlan, run_id: str, model: MMM) -> dict[str, Any]:
    """The run's response curves become the workspace's active curve set (``plan optimize``,
    scenarios and the Plan page use it). ``{"curve_set": {id, name, period}}``, or
    ``{"curve_set": None, "curve_set_error": why}`` when it cannot be saved."""
    from spendlab.plan.curvesets import save_mmm_curves

    try:
        cs = save_mmm_curves(
            ws.store.engine, ws.id, run_id, model, plan.frequency or "daily", plan.members
        )
    except SpendLabError as e:
        return {"curve_set": None, "curve_set_error": str(e)}
    return {"curve_set": {"id": cs.id, "name": cs.name, "period": cs.period}}


def run_fit(
    ws: Workspace,
    plan: FitPlan,
    run_id: str,
    progress: Progress | None = None,
    *,
    run_dir: str | Path | None = None,
    progress_bar: bool = False,
) -> dict[str, Any]:
    """Fit a started run, save its files, mark it succeeded and publish its curves (a fit of the
    canonical tables). Returns ``run_id``, ``fit_seconds`` and ``curve_set`` (plus
    ``curve_set_error`` when publishing failed; see the module's error policy)."""
    model, run = service.fit_run(
        ws, plan, run_id, progress, run_dir=run_dir, progress_bar=progress_bar
    )
    result: dict[str, Any] = {"run_id": run_id, "fit_seconds": run["summary"]["fit_seconds"]}
    if plan.publishes_curves:
        result |= publish_curves(ws, plan, run_id, model)
    return result


def fit_plan(
    ws: Workspace,
    plan: FitPlan,
    *,
    user: str = "",
    run_dir: str | Path | None = None,
    progress_bar: bool = False,
) -> dict[str, Any]:
    """Start, fit and publish in this process. Returns the stored summary (per channel iROAS,
    health, ... and ``input``) with ``run_id``, ``run`` (the folder) and ``curve_set``."""
    run_id = service.start_fit(ws, plan, user=user)
    result = run_fit(ws, plan, run_id, run_dir=run_dir, progress_bar=progress_bar)
    run = service.get_run(ws, run_id)
    return {**run["summary"], "run_id": run_id, "run": str(store.run_path(ws, run)), **result}


def fit_workspace(
    ws: Workspace,
    *,
    user: str = "",
    run_dir: str | Path | None = None,
    progress_bar: bool = False,
    **inputs: Any,
) -> dict[str, Any]:
    """:func:`~spendlab.measure.mmm.service.prepare_fit` (``inputs``: kpi, channel_by, ...,
    and the fit options) then :func:`fit_plan`: the whole use case in one call."""
    plan = service.prepare_fit(ws, **inputs)
    return fit_plan(ws, plan, user=user, run_dir=run_dir, progress_bar=progress_bar)


def queue_fit(ws: Workspace, plan: FitPlan, *, user: str, submit: Submit) -> dict[str, Any]:
    """Start the run now and fit it in a background job (``submit``); returns ``job_id``,
    ``run_id`` and ``input`` (what was built). The job's result is :func:`run_fit`'s."""
    run_id = service.start_fit(ws, plan, user=user)

    def work(progress: Progress) -> dict[str, Any]:
        checkpoint("mmm.fit")  # test hook (core/faults.py): the job runs, the run is running
        return run_fit(ws, plan, run_id, progress)

    try:
        job_id = submit(work, params={"run_id": run_id, **plan.request})
    except BaseException as e:
        store.fail_run(ws, run_id, service.failure_reason(e))
        raise
    store.set_job(ws, run_id, job_id)
    return {"job_id": job_id, "run_id": run_id, "input": plan.describe()}


__all__ = ["fit_plan", "fit_workspace", "publish_curves", "queue_fit", "run_fit"]
