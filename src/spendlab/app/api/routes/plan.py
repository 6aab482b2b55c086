"""Planning over the workspace's active curve set: scenarios (create, list, get, delete,
compare), the efficiency frontier, the optimizer, curve sets. Viewers read and run the optimizer;
analysts save and delete. The product aliases (``/api/create_scenario``...) call the same
helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.errors import NotFittedError, NotFoundError
from spendlab.plan.constraints import Constraints
from spendlab.plan.curvesets import CurveSet, current_spend, list_curve_sets, load_curve_set
from spendlab.plan.frontier import efficiency_frontier
from spendlab.plan.scenarios import (
    build_scenario,
    compare,
    delete_scenario,
    get_scenario,
    jsonable,
    list_scenarios,
    recommend,
    save_scenario,
)
from spendlab.plan.store import workspace_key

router = APIRouter(prefix="/workspaces/{workspace}/plan", tags=["plan"])

Money = Annotated[float, Field(ge=0, le=1e12)]
Ident = Annotated[str, Field(min_length=1, max_length=200)]
ScenarioId = Annotated[int, Path(ge=1, le=2**62)]


class OperationIn(BaseModel):
    """One what-if step: ``scale`` a channel by ``pct`` %, ``shift`` ``pct`` % of ``from``'s
    spend to ``to``, or ``set`` a channel to ``value``."""

    model_config = ConfigDict(populate_by_name=True)
    op: Literal["scale", "shift", "set"]
    channel: Ident | None = None
    from_: Ident | None = Field(None, alias="from")
    to: Ident | None = None
    pct: float | None = Field(None, ge=-100, le=1000)
    value: Money | None = None


class ScenarioBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    allocation: dict[Ident, Money] = Field(
        default_factory=dict,
        description="Spend per entity and period; entities not named keep their current spend",
        max_length=10_000,
    )
    operations: list[OperationIn] = Field(default_factory=list, max_length=50)
    budget: Money | None = Field(None, description="Rescale the result to this total")


class OptimizeIn(BaseModel):
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


@dataclass
class PlanContext:
    key: str
    cs: CurveSet
    current: dict[str, float]
    window: tuple[str, str] | None


def plan_context(state: Any, workspace: str | int) -> PlanContext:
    """The workspace's active curve set and current spend per entity (409 without a curve set)."""
    ws = state.workspaces.get(workspace)
    key = workspace_key(ws.path)
    try:
        cs = load_curve_set(state.store.engine, key)
    except NotFoundError:
        raise NotFittedError(
            "planning is not configured for this workspace yet: it needs a curve set (response "
            "curves). Fit a marketing-mix model, import curves with `spendlab plan curves "
            "import FILE --workspace PATH`, or build the demo with `spendlab demo`"
        ) from None
    with state.workspaces.warehouse(ws.id) as wh:
        cur = current_spend(wh, cs)
    return PlanContext(
        key, cs, dict(zip(cur["id"], cur["current"].astype(float), strict=True)),
        cur.attrs.get("window"),
    )  # fmt: skip


def create(state: Any, workspace: str | int, body: ScenarioBody, author: str) -> dict[str, Any]:
    ctx = plan_context(state, workspace)
    ops = [o.model_dump(by_alias=True, exclude_none=True) for o in body.operations]
    sc = build_scenario(
        ctx.cs,
        ctx.current,
        body.name,
        operations=ops,
        allocation=body.allocation or None,
        budget=body.budget,
    )
    spec = {"operations": ops, "allocation": body.allocation, "budget": body.budget}
    return save_scenario(state.store.engine, ctx.key, sc, spec, author)


def recommendation(state: Any, workspace: str | int, body: OptimizeIn) -> dict[str, Any]:
    ctx = plan_context(state, workspace)
    cons = Constraints(
        min=body.min or None,
        max=body.max or None,
        locked=tuple(body.locked),
        max_change_rel=body.max_change_rel,
    )
    out = recommend(
        ctx.cs,
        ctx.current,
        budget=body.budget,
        constraints=cons,
        goal=body.goal,
        target=body.target,
        risk=body.risk if ctx.cs.curves().draws else "mean",
    )
    return {**out, "current_window": ctx.window}


def _key(state: Any, workspace: str) -> str:
    return workspace_key(state.workspaces.get(workspace).path)


@router.get("/curve-sets", summary="The workspace's curve sets, newest first")
def curve_sets(workspace: str, _: Viewer, state: StateDep) -> dict[str, Any]:
    return {"items": jsonable(list_curve_sets(state.store.engine, _key(state, workspace)))}


@router.get("/scenarios", summary="Saved scenarios, newest first")
def scenarios(workspace: str, _: Viewer, state: StateDep) -> dict[str, Any]:
    return {"items": list_scenarios(state.store.engine, _key(state, workspace))}


@router.post("/scenarios", status_code=201, summary="Save a what-if scenario with predictions")
def create_scenario(
    workspace: str, body: ScenarioBody, who: Analyst, state: StateDep
) -> dict[str, Any]:
    return create(state, workspace, body, who.username)


@router.get("/scenarios/{scenario_id}", summary="A saved scenario")
def scenario(workspace: str, scenario_id: ScenarioId, _: Viewer, state: StateDep) -> dict[str, Any]:
    return get_scenario(state.store.engine, scenario_id, _key(state, workspace))


@router.delete("/scenarios/{scenario_id}", status_code=204, summary="Delete a saved scenario")
def remove_scenario(
    workspace: str, scenario_id: ScenarioId, _: Analyst, state: StateDep
) -> Response:
    delete_scenario(state.store.engine, _key(state, workspace), scenario_id)
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
    key = _key(state, workspace)
    rows = [get_scenario(state.store.engine, i, key) for i in ids or [] if 1 <= i <= 2**62]
    if not ids:
        rows = list_scenarios(state.store.engine, key)[:20][::-1]
    frame = compare(rows)
    return {"items": jsonable(frame.to_dict(orient="records"))}


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
    ctx = plan_context(state, workspace)
    curves = ctx.cs.curves()
    cur = [ctx.current[i] for i in curves.ids]
    f = efficiency_frontier(curves, max_budget=max_budget, points=points, current=cur)
    out = {"period": ctx.cs.period, "current_budget": sum(cur), **f.to_dict()}
    if target is not None:
        out["max_budget"] = jsonable(f.max_budget(target, metric))
    return out


@router.post("/optimize", summary="Optimal allocation on the active curve set")
def optimize_plan(workspace: str, body: OptimizeIn, _: Viewer, state: StateDep) -> dict[str, Any]:
    return recommendation(state, workspace, body)
