"""The endpoints the product brief names, as stable aliases. Upload works now; the planning and
measurement ones answer 409 ``not_configured`` with what to do until those modules are set up
in the workspace (never made-up numbers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from pydantic import BaseModel, Field

from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.app.api.routes.datasets import upload
from spendlab.errors import NotFittedError, NotFoundError

router = APIRouter(prefix="/api", tags=["product"])


class ScenarioIn(BaseModel):
    workspace: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    allocation: dict[str, float] = Field(
        default_factory=dict, description="Spend per channel or campaign id"
    )


Amount = Annotated[float, Field(ge=0, le=1e13, allow_inf_nan=False)]


class PredictIn(BaseModel):
    workspace: str = Field(min_length=1, max_length=100)
    spend: dict[Annotated[str, Field(max_length=200)], Amount] = Field(
        max_length=200,
        description="Planned spend per channel and period (the model's period: day or week); "
        "channels left out keep their average spend",
    )
    run_id: str | None = Field(
        None, max_length=32, description="Model run (default: the latest successful one)"
    )


def _not_configured(what: str, how: str) -> NotFittedError:
    return NotFittedError(f"{what} is not configured for this workspace yet: {how}")


@router.post("/upload_data", summary="Upload a file (alias of POST /api/v1/.../datasets)")
def upload_data(
    _: Analyst,
    state: StateDep,
    workspace: Annotated[str, Form(min_length=1, max_length=100)],
    file: Annotated[UploadFile, File()],
    source: Annotated[str, Form(max_length=40)],
    options: Annotated[str | None, Form(max_length=20_000)] = None,
    dry_run: Annotated[bool, Form()] = False,
    on_error: Annotated[Literal["abort", "skip"], Form()] = "abort",
) -> dict[str, Any]:
    return upload(state, workspace, file, source, options, dry_run, on_error)


@router.post("/create_scenario", summary="Save a what-if allocation and predict its KPIs")
def create_scenario(body: ScenarioIn, _: Analyst, state: StateDep) -> dict[str, Any]:
    state.workspaces.get(body.workspace)
    raise _not_configured(
        "scenario planning",
        "it needs response curves; fit a marketing-mix model (spendlab mmm fit) first",
    )


@router.get("/get_scenario/{scenario_id}", summary="A saved scenario")
def get_scenario(
    scenario_id: Annotated[int, Path(ge=1, le=2**62)], _: Viewer, state: StateDep
) -> dict[str, Any]:
    raise NotFoundError(f"no scenario {scenario_id}; create one with POST /api/create_scenario")


@router.post("/predict_roi", summary="Predicted iROAS and outcome of a spend plan")
def predict_roi(body: PredictIn, _: Viewer, state: StateDep) -> dict[str, Any]:
    """Per channel response, iROAS and mROAS with 90% intervals at the planned spend per period,
    and the expected outcome of a period once the plan's carry-over has built up, from a fitted
    marketing-mix model of the workspace (409 ``not_configured`` when there is none)."""
    from spendlab.measure.mmm import store as runs
    from spendlab.measure.mmm.roi import predict_roi as predict

    ws = state.workspaces.get(body.workspace)
    if body.run_id is not None:
        run = runs.get_run(state.store.engine, body.run_id, ws.path)
    else:
        run = runs.latest_run(state.store.engine, ws.path)
        if run is None:
            raise _not_configured(
                "prediction",
                "fit a marketing-mix model on this workspace first (spendlab mmm fit --workspace "
                f"PATH, or POST /api/v1/workspaces/{body.workspace}/mmm/fits)",
            )
    result = predict(runs.load_model(run), body.spend)
    return runs.jsonable({"workspace": body.workspace, "run_id": run["id"], **result})


@router.get("/get_recommendations", summary="Budget and rule recommendations")
def get_recommendations(
    _: Viewer, state: StateDep, workspace: Annotated[str, Query(min_length=1, max_length=100)]
) -> dict[str, Any]:
    state.workspaces.get(workspace)
    raise _not_configured(
        "recommendations",
        "fit a marketing-mix model (spendlab mmm fit) or add rules (spendlab rules) first",
    )
