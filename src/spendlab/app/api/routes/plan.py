"""Planning over the workspace's active curve set: scenarios (create, list, get, delete,
compare), the efficiency frontier, the optimizer, curve sets. Viewers read and run the optimizer;
analysts save and delete. Each route parses its input and calls :mod:`spendlab.plan.service` with
the workspace's handle; the product aliases (``/api/create_scenario``...) call the same service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import ConfigDict, Field

from spendlab.app.api.bodies import Body
from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.plan import service
from spendlab.plan.constraints import Constraints, TrustRegion

router = APIRouter(prefix="/workspaces/{workspace}/plan", tags=["plan"])

Money = Annotated[float, Field(ge=0, le=1e12)]
Ident = Annotated[str, Field(min_length=1, max_length=200)]
ScenarioId = Annotated[int, Path(ge=1, le=2**62)]


class OperationIn(Body):
    """One what-if step: ``scale`` a channel by ``pct`` %, ``shift`` ``pct`` % of ``from``'s
    spend to ``to``, or ``set`` a channel to ``value``."""

    model_config = ConfigDict(populate_by_name=True)
    op: Literal["scale", "shift", "set"]
    channel: Ident | None = None
    from_: Ident | None = Field(None, alias="from")
    to: Ident | None = None
    pct: float | None = Field(None, ge=-100, le=1000)
    value: Money | None = None


class ScenarioBody(Body):
    name: str = Field(min_length=1, max_length=200)
    allocation: dict[Ident, Money] = Field(
        default_factory=dict,
        description="Spend per entity and period; entities not named keep their current spend",
        max_length=10_000,
    )
    operations: list[OperationIn] = Field(default_factory=list, max_length=50)
    budget: Money | None = Field(None, description="Rescale the result to this total")


class OptimizeIn(Body):
    budget: Money | None = Field(None, description="Total per period (default: current total)")
    goal: Literal["response", "profit", "target", "roas"] = "response"
    target: float | None = Field(None, gt=0, le=1e12, description="For goal target / roas")
    min: dict[Ident, Money] = Field(default_factory=dict, max_length=10_000)
    max: dict[Ident, Money] = Field(default_factory=dict, max_length=10_000)
    locked: list[Ident] = Field(default_factory=list, max_length=10_000)
    max_change_rel: float | None = Field(
        None, ge=0, le=100, description="Largest change as a fraction of current spend"
    )
    risk: Literal["mean", "quantile", "mean_sd"] = "mean"
    trust_region: bool = Field(
        True, description="Keep each entity within the spend range it ran at (see docs/trust.md)"
    )
    trust_margin: float = Field(
        0.1, ge=0, le=10, description="Widen the observed spend range by this fraction"
    )
    trust_max_step: float = Field(
        0.3, ge=0, le=100, description="Largest move from current spend where history is flat"
    )

    def trust(self) -> TrustRegion | bool:
        if not self.trust_region:
            return False
        return TrustRegion(margin=self.trust_margin, max_step=self.trust_max_step)

    def constraints(self) -> Constraints:
        return Constraints(
            min=self.min or None,
            max=self.max or None,
            locked=tuple(self.locked),
            max_change_rel=self.max_change_rel,
        )


def create(state: Any, workspace: str | int, body: ScenarioBody, author: str) -> dict[str, Any]:
    """Save the scenario of ``body`` in ``workspace`` (a route's and the product alias's)."""
    return service.create_scenario(
        state.workspaces.handle(workspace),
        body.name,
        operations=[o.model_dump(by_alias=True, exclude_none=True) for o in body.operations],
        allocation=body.allocation,
        budget=body.budget,
        author=author,
    )


def optimize(state: Any, workspace: str | int, body: OptimizeIn) -> dict[str, Any]:
    return service.optimize(
        state.workspaces.handle(workspace),
        budget=body.budget,
        goal=body.goal,
        target=body.target,
        constraints=body.constraints(),
        risk=body.risk,
        trust=body.trust(),
    )


@router.get("/curve-sets", summary="The workspace's curve sets, newest first")
def curve_sets(workspace: str, _: Viewer, state: StateDep) -> dict[str, Any]:
    return {"items": service.list_curve_sets(state.workspaces.handle(workspace))}


@router.get("/scenarios", summary="Saved scenarios, newest first")
def scenarios(workspace: str, _: Viewer, state: StateDep) -> dict[str, Any]:
    return {"items": service.list_scenarios(state.workspaces.handle(workspace))}


@router.post("/scenarios", status_code=201, summary="Save a what-if scenario with predictions")
def create_scenario(
    workspace: str, body: ScenarioBody, who: Analyst, state: StateDep
) -> dict[str, Any]:
    return create(state, workspace, body, who.username)


@router.get("/scenarios/{scenario_id}", summary="A saved scenario")
def scenario(workspace: str, scenario_id: ScenarioId, _: Viewer, state: StateDep) -> dict[str, Any]:
    return service.get_scenario(state.workspaces.handle(workspace), scenario_id)


@router.delete("/scenarios/{scenario_id}", status_code=204, summary="Delete a saved scenario")
def remove_scenario(
    workspace: str, scenario_id: ScenarioId, _: Analyst, state: StateDep
) -> Response:
    service.delete_scenario(state.workspaces.handle(workspace), scenario_id)
    return Response(status_code=204)


@router.get("/compare", summary="Saved scenarios side by side (tidy rows)")
def compare_scenarios(
    workspace: str,
    _: Viewer,
    state: StateDep,
    ids: Annotated[
        list[int] | None, Query(max_length=20, description="Scenario ids (default: newest 20)")
    ] = None,
) -> dict[str, Any]:
    ws = state.workspaces.handle(workspace)
    if ids:
        ids = [i for i in ids if 1 <= i <= 2**62]
        if not ids:
            return {"items": []}
    return {"items": service.compare_scenarios(ws, ids)}


@router.get("/frontier", summary="Efficiency frontier: optimal outcome vs total budget")
def frontier(
    workspace: str,
    _: Viewer,
    state: StateDep,
    max_budget: Annotated[float | None, Query(gt=0, le=1e12)] = None,
    points: Annotated[int, Query(ge=2, le=50)] = 25,
    target: Annotated[float | None, Query(gt=0, le=1e9, description="mROAS/iROAS target")] = None,
    metric: Annotated[Literal["mroas", "iroas"], Query()] = "mroas",
) -> dict[str, Any]:
    return service.frontier(
        state.workspaces.handle(workspace),
        max_budget=max_budget,
        points=points,
        target=target,
        metric=metric,
    )


@router.post("/optimize", summary="Optimal allocation on the active curve set")
def optimize_plan(workspace: str, body: OptimizeIn, _: Viewer, state: StateDep) -> dict[str, Any]:
    return optimize(state, workspace, body)
