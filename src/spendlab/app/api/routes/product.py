"""The endpoints the product brief names, as stable aliases of the domain routes; the planning and
prediction ones call :mod:`spendlab.plan.service`. Planning ones answer 409 ``not_configured``
with what to do until the workspace has a curve set, prediction until an MMM is fitted (never
made-up numbers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from pydantic import Field

from spendlab.app import access
from spendlab.app.api.bodies import Body
from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.app.api.routes import plan as plan_routes
from spendlab.app.api.routes.datasets import upload
from spendlab.app.api.routes.plan import ScenarioBody
from spendlab.app.store import Role
from spendlab.errors import WorkspaceNotFoundError
from spendlab.plan import service
from spendlab.plan.constraints import TrustRegion

router = APIRouter(prefix="/api", tags=["product"])


class ScenarioIn(ScenarioBody):
    workspace: str = Field(min_length=1, max_length=100)


Amount = Annotated[float, Field(ge=0, le=1e13, allow_inf_nan=False)]


class PredictIn(Body):
    workspace: str = Field(min_length=1, max_length=100)
    spend: dict[Annotated[str, Field(max_length=200)], Amount] = Field(
        max_length=200,
        description="Planned spend per channel and period (the model's period: day or week); "
        "channels left out keep their average spend",
    )
    run_id: str | None = Field(
        None, max_length=32, description="Model run (default: the latest successful one)"
    )


@router.post("/upload_data", summary="Upload a file (alias of POST /api/v1/.../datasets)")
def upload_data(
    who: Analyst,
    state: StateDep,
    workspace: Annotated[str, Form(min_length=1, max_length=100)],
    file: Annotated[UploadFile, File()],
    source: Annotated[str, Form(max_length=40)],
    options: Annotated[str | None, Form(max_length=20_000)] = None,
    dry_run: Annotated[bool, Form()] = False,
    on_error: Annotated[Literal["abort", "skip"], Form()] = "abort",
) -> dict[str, Any]:
    access.open_for(state, who, workspace, Role.ANALYST)
    return upload(state, workspace, file, source, options, dry_run, on_error)


@router.post(
    "/create_scenario", status_code=201, summary="Save a what-if allocation and predict its KPIs"
)
def create_scenario(body: ScenarioIn, who: Analyst, state: StateDep) -> dict[str, Any]:
    """Operations (scale / shift / set) or an allocation, on the workspace's active curve set,
    from its current spend (last 28 days); optional ``budget`` rescales the result."""
    access.open_for(state, who, body.workspace, Role.ANALYST)
    return plan_routes.create(state, body.workspace, body, who.username)


@router.get("/get_scenario/{scenario_id}", summary="A saved scenario")
def get_scenario(
    scenario_id: Annotated[int, Path(ge=1, le=2**62)],
    p: Viewer,
    state: StateDep,
    workspace: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="The scenario's workspace (default: the registered one that has it)",
        ),
    ] = None,
) -> dict[str, Any]:
    """Scenario ids are numbered per workspace store: without ``workspace`` every registered
    workspace is searched, and an id two of them have is refused (name the workspace)."""
    if workspace is not None:
        return service.get_scenario(access.open_for(state, p, workspace), scenario_id)
    return service.find_scenario(_handles(state, p), scenario_id)


def _handles(state: Any, p: Any) -> Iterator[Any]:
    """A handle on each registered workspace the caller can open whose folder is still there."""
    for row in access.visible(state, p):
        try:
            yield state.workspaces.handle(row.id)
        except WorkspaceNotFoundError:
            continue


@router.post("/predict_roi", summary="Predicted iROAS and outcome of a spend plan")
def predict_roi(body: PredictIn, p: Viewer, state: StateDep) -> dict[str, Any]:
    """Per channel response, iROAS and mROAS with 90% intervals at the planned spend per period,
    and the expected outcome of a period once the plan's carry-over has built up, from a fitted
    marketing-mix model of the workspace (409 ``not_configured`` when there is none)."""
    ws = access.open_for(state, p, body.workspace)
    return {"workspace": body.workspace, **service.predict_roi(ws, body.spend, body.run_id)}


@router.get("/get_recommendations", summary="Budget and rule recommendations")
def get_recommendations(
    p: Viewer,
    state: StateDep,
    workspace: Annotated[str, Query(min_length=1, max_length=100)],
    trust_region: Annotated[bool, Query(description="Stay within the observed spend range")] = True,
    trust_margin: Annotated[float, Query(ge=0, le=10)] = 0.1,
    trust_max_step: Annotated[float, Query(ge=0, le=100)] = 0.3,
) -> dict[str, Any]:
    """The optimizer's allocation of the current total budget on the active curve set, inside
    the trust region (each entity's bounds, why, which binds, ``outside_observed``), with the
    expected uplift, its interval and P(uplift > 0), the advice ("test before you move" when the
    model's draws disagree), and the rule actions awaiting approval. See docs/trust.md."""
    trust = TrustRegion(margin=trust_margin, max_step=trust_max_step) if trust_region else False
    return service.recommend(access.open_for(state, p, workspace), trust=trust)
