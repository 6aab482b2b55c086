"""Marketing-mix model: start a fit as a background job, list runs, read a run's results.

A thin adapter over :mod:`spendlab.measure.mmm.service` (runs, models) and
:mod:`spendlab.plan.mmm_fit` (fit, record the run, publish the curves: the same function
``spendlab mmm fit`` calls). The request builds the model's input from the workspace's canonical
tables (bad input is a 4xx) and releases the warehouse; the job fits, saves the posterior in
``WORKSPACE/mmm/runs/<id>/`` and records the run and its curve set in the workspace's store.
Results are read from the saved run, never refitted.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from spendlab.app.api.bodies import Body
from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.app.api.paging import PageParams, page_params, paginate
from spendlab.app.api.state import AppState
from spendlab.core.jsonsafe import jsonable
from spendlab.measure.mmm import service
from spendlab.measure.mmm.workspace import CHANNEL_COLUMNS
from spendlab.plan.mmm_fit import queue_fit

router = APIRouter(prefix="/workspaces/{workspace}/mmm", tags=["mmm"])

RunId = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
ChannelBy = Literal[CHANNEL_COLUMNS]  # type: ignore[valid-type]  # the one list, from the domain


class FitIn(Body):
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
    activate: bool = Field(
        False,
        description="make the curves the active set even when the model fails its gate "
        "(recorded in the run and the curve set)",
    )


@router.post("/fits", status_code=202, summary="Start a model fit (background job)")
def fit(workspace: str, body: FitIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    """Build the input now (bad input fails the request), fit in a background job. The job's
    result says whether the curves became the active set: ``activated``, ``gate`` (passed,
    checks, failed) and ``advice``; the run detail carries the same ``gate``."""
    row = state.workspaces.get(workspace)
    ws = state.workspaces.handle(row.id)
    plan = service.prepare_fit(ws, **body.model_dump(exclude={"activate"}))
    submit = partial(state.jobs.submit, "mmm_fit", workspace_id=row.id, user=p.username)
    return queue_fit(ws, plan, user=p.username, submit=submit, activate=body.activate)


@router.get("/runs", summary="Model runs, newest first")
def list_runs(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
    status: Annotated[Literal["running", "succeeded", "failed"] | None, Query()] = None,
) -> dict[str, Any]:
    ws = state.workspaces.handle(workspace)
    return paginate(service.list_runs(ws, status, jobs=state.jobs.get), paging)


def model_of(state: AppState, workspace: str, run_id: str) -> Any:
    return service.load_model(state.workspaces.handle(workspace), run_id)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON: dates as ISO strings, NaN and infinities as null."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return jsonable(out.to_dict(orient="records"))


@router.get("/runs/{run_id}", summary="A run: per channel iROAS/mROAS, shares, health card")
def get_run(workspace: str, run_id: RunId, _: Viewer, state: StateDep) -> dict[str, Any]:
    return service.get_run(state.workspaces.handle(workspace), run_id)


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
