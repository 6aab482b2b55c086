"""The endpoints the product brief names, as stable aliases of the domain routes. Planning ones
answer 409 ``not_configured`` with what to do until the workspace has a curve set, prediction
until an MMM is fitted (never made-up numbers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from pydantic import BaseModel, Field

from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.app.api.routes import plan as plan_routes
from spendlab.app.api.routes.datasets import upload
from spendlab.app.api.routes.plan import ScenarioBody
from spendlab.automate.store import select_actions
from spendlab.core.actions import ActionStatus
from spendlab.errors import NotFittedError
from spendlab.plan import scenarios as plan_scenarios

router = APIRouter(prefix="/api", tags=["product"])


class ScenarioIn(ScenarioBody):
    workspace: str = Field(min_length=1, max_length=100)


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


@router.post(
    "/create_scenario", status_code=201, summary="Save a what-if allocation and predict its KPIs"
)
def create_scenario(body: ScenarioIn, who: Analyst, state: StateDep) -> dict[str, Any]:
    """Operations (scale / shift / set) or an allocation, on the workspace's active curve set,
    from its current spend (last 28 days); optional ``budget`` rescales the result."""
    return plan_routes.create(state, body.workspace, body, who.username)


@router.get("/get_scenario/{scenario_id}", summary="A saved scenario")
def get_scenario(
    scenario_id: Annotated[int, Path(ge=1, le=2**62)], _: Viewer, state: StateDep
) -> dict[str, Any]:
    return plan_scenarios.get_scenario(state.store.engine, scenario_id)


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
    """The optimizer's allocation of the current total budget on the active curve set (expected
    uplift with its interval, KKT gap, binding constraints in words) and the rule actions
    awaiting approval."""
    rec = plan_routes.recommendation(state, workspace, plan_routes.OptimizeIn())
    rs = state.rules.store(state.workspaces.get(workspace))  # this workspace's queue only
    pending = select_actions(rs, status=[ActionStatus.PROPOSED.value])
    return {
        "budget": rec,
        "pending_actions": [{"id": i, **a.to_dict()} for i, a, _ in pending[-500:]],
        "pending_total": len(pending),
    }
