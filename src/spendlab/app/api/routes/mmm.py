"""Marketing-mix model: start a fit as a background job, list runs, read a run's results.

A fit builds the model's input from the workspace's canonical tables
(:mod:`spendlab.measure.mmm.workspace`), runs in the job runner with progress messages, saves the
posterior in ``WORKSPACE/mmm/runs/<id>/`` and indexes the run in the store
(:mod:`spendlab.measure.mmm.store`). Results are read from the saved run, never refitted.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.app.api.paging import PageParams, page_params, paginate
from spendlab.app.api.state import AppState
from spendlab.errors import SpendLabError
from spendlab.measure.mmm import store as runs
from spendlab.measure.mmm.workspace import CHANNEL_COLUMNS, build_input, channel_members
from spendlab.plan.curvesets import save_mmm_curves
from spendlab.plan.store import workspace_key

router = APIRouter(prefix="/workspaces/{workspace}/mmm", tags=["mmm"])

RunId = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
ChannelBy = Literal[CHANNEL_COLUMNS]  # type: ignore[valid-type]  # the one list, from the domain


class FitIn(BaseModel):
    kpi: str | None = Field(None, max_length=100, description="outcomes KPI (default revenue)")
    frequency: Literal["auto", "daily", "weekly"] = "auto"
    channel_by: ChannelBy = "platform"
    channel_map: dict[Name, Name] = Field(default_factory=dict, max_length=200)
    channels: list[Name] | None = Field(None, max_length=50, description="default: all")
    controls: list[Name] | None = Field(None, max_length=50, description="default: all")
    start: dt.date | None = None
    end: dt.date | None = None
    fast: bool = Field(False, description="Laplace approximation (preview) instead of NUTS")
    chains: int = Field(4, ge=1, le=8)
    draws: int = Field(1000, ge=20, le=4000)
    warmup: int = Field(1000, ge=20, le=4000)
    holdout: int = Field(0, ge=0, le=104, description="final periods kept out to score fit")
    adstock: str = Field("geometric", max_length=40, description="geometric, delayed, weibull")
    saturation: str = Field("hill", max_length=40, description="hill, logistic, michaelis_menten")
    yearly_order: int = Field(3, ge=0, le=6)
    seed: int = Field(0, ge=0, le=2**31 - 1)


def fit_options(body: FitIn) -> dict[str, Any]:
    return body.model_dump(include={"fast", "chains", "draws", "warmup", "holdout", "adstock",
                                    "saturation", "yearly_order", "seed"})  # fmt: skip


def start_fit(state: AppState, workspace: str, body: FitIn, user: str) -> dict[str, Any]:
    """Build the input now (bad input fails the request), fit in the background."""
    ws = state.workspaces.get(workspace)
    with state.workspaces.warehouse(ws.id) as wh:
        inp = build_input(wh, kpi=body.kpi, frequency=body.frequency, channel_by=body.channel_by,
                          channel_map=body.channel_map or None, channels=body.channels,
                          controls=body.controls, start=body.start, end=body.end)  # fmt: skip
        members = channel_members(wh, body.channel_by, body.channel_map or None)
    cfg = inp.config(progress_bar=False, **fit_options(body))
    engine = state.store.engine
    run_id = runs.start_run(engine, ws.path, cfg, source="workspace", user=user)
    how = "fast (Laplace)" if cfg.fast else f"NUTS, {cfg.chains} chain(s) x {cfg.draws} draws"
    shape = f"{len(inp.frame)} {inp.frequency} periods, {len(inp.channels)} channels"

    def work(progress) -> dict[str, Any]:
        from spendlab.measure.mmm import MMM

        try:
            progress(0.05, f"fitting the model: {shape}, {how}")
            model = MMM(cfg).fit(inp.frame)
            progress(0.8, "computing the summary, health card and curves")
            summary = runs.jsonable({**model.to_json(), "input": inp.describe()})
            progress(0.95, "saving the run")
            folder = model.save(runs.run_folder(ws.path, run_id))
            runs.finish_run(engine, run_id, folder, summary)
        except BaseException as e:
            runs.fail_run(engine, run_id, str(e))
            raise
        # planning consumes fitted curves through curve sets: this run's become the active set
        try:
            cs = save_mmm_curves(
                engine, workspace_key(ws.path), run_id, model, inp.frequency, members
            )
        except SpendLabError as e:  # the run stands; only its curves are not published
            return {"run_id": run_id, "fit_seconds": summary["fit_seconds"],
                    "curve_set": None, "curve_set_error": str(e)}  # fmt: skip
        return {"run_id": run_id, "fit_seconds": summary["fit_seconds"], "curve_set": cs.id}

    params = {"run_id": run_id, **body.model_dump(mode="json")}
    job_id = state.jobs.submit("mmm_fit", work, workspace_id=ws.id, user=user, params=params)
    runs.set_job(engine, run_id, job_id)
    return {"job_id": job_id, "run_id": run_id, "input": inp.describe()}


def reconcile(state: AppState, ws_path: str) -> None:
    """Runs left ``running`` by a job that no longer runs (the server stopped) become failed."""
    engine = state.store.engine
    for r in runs.list_runs(engine, ws_path, status="running"):
        if r["job_id"] is None:
            continue
        try:
            job = state.jobs.get(r["job_id"])
        except SpendLabError:
            job = {"status": "failed", "error": "its job is gone"}
        if job["status"] == "failed":
            runs.fail_run(engine, r["id"], job["error"] or "the fit job failed")


@router.post("/fits", status_code=202, summary="Start a model fit (background job)")
def fit(workspace: str, body: FitIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    return start_fit(state, workspace, body, p.username)


@router.get("/runs", summary="Model runs, newest first")
def list_runs(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
    status: Annotated[Literal["running", "succeeded", "failed"] | None, Query()] = None,
) -> dict[str, Any]:
    ws = state.workspaces.get(workspace)
    reconcile(state, ws.path)
    return paginate(runs.list_runs(state.store.engine, ws.path, status), paging)


def run_of(state: AppState, workspace: str, run_id: str) -> dict[str, Any]:
    ws = state.workspaces.get(workspace)
    return runs.get_run(state.store.engine, run_id, ws.path)


def model_of(state: AppState, workspace: str, run_id: str) -> Any:
    return runs.load_model(run_of(state, workspace, run_id))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON: dates as ISO strings, NaN and infinities as null."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return runs.jsonable(out.to_dict(orient="records"))


@router.get("/runs/{run_id}", summary="A run: per channel iROAS/mROAS, shares, health card")
def get_run(workspace: str, run_id: RunId, _: Viewer, state: StateDep) -> dict[str, Any]:
    return run_of(state, workspace, run_id)


@router.get("/runs/{run_id}/decomposition", summary="Contributions over time (mean, interval)")
def decomposition(workspace: str, run_id: RunId, _: Viewer, state: StateDep) -> dict[str, Any]:
    return {"items": records(model_of(state, workspace, run_id).contributions())}


@router.get("/runs/{run_id}/fitted", summary="Actual vs fitted with the interval band")
def fitted(workspace: str, run_id: RunId, _: Viewer, state: StateDep) -> dict[str, Any]:
    return {"items": records(model_of(state, workspace, run_id).fitted())}


@router.get("/runs/{run_id}/curves", summary="Response curves: parameters per draw and a grid")
def curves(
    workspace: str,
    run_id: RunId,
    _: Viewer,
    state: StateDep,
    points: Annotated[int, Query(ge=2, le=200, description="grid points per channel")] = 41,
) -> dict[str, Any]:
    """``params``: per channel and posterior draw, the steady-state curve in the planner's
    parameterization (spend per period -> response per period; see docs/mmm.md); ``curves``:
    the same curves on a grid (mean and interval)."""
    model = model_of(state, workspace, run_id)
    return {
        "run_id": run_id,
        "target": model.config.target,
        "interval": model.config.interval,
        "params": records(model.response_curve_params()),
        "curves": records(model.response_curves(points=points)),
    }


@router.get("/runs/{run_id}/adstock", summary="Carry-over weights by lag")
def adstock(workspace: str, run_id: RunId, _: Viewer, state: StateDep) -> dict[str, Any]:
    return {"items": records(model_of(state, workspace, run_id).adstock())}
