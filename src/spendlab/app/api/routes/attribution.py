"""Attribution: credit conversions to channels from the workspace's journeys (touchpoints and
conversions), with any model, bootstrap intervals, and all models side by side."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from spendlab.app.api.deps import StateDep, Viewer
from spendlab.measure.attribution import (
    MODELS,
    JourneyConfig,
    build_journeys,
    build_paths,
    compare_models,
    run_attribution,
)

router = APIRouter(prefix="/workspaces/{workspace}/attribution", tags=["attribution"])

Model = Literal[MODELS]  # type: ignore[valid-type]  # the one list, from the domain


class AttributionIn(BaseModel):
    model: Model = "markov"
    order: int = Field(1, ge=1, le=4, description="Markov order")
    bootstrap: int = Field(0, ge=0, le=2000, description="Bootstrap draws for intervals (0: none)")
    level: float = Field(0.9, gt=0.5, lt=1.0, description="Interval level")
    lookback_days: float = Field(30.0, gt=0, le=365)
    granularity: Literal["channel", "campaign"] = "channel"
    drop_channels: list[str] = Field(default_factory=list, max_length=50)
    half_life_days: float | None = Field(
        None, gt=0, le=365, description="time_decay only: half-life in days from touch times"
    )


def paths_of(
    state,
    workspace: str,
    lookback_days: float,
    granularity: str,
    drop: list[str],
    *,
    with_times: bool = False,
):
    config = JourneyConfig(
        lookback_days=lookback_days, granularity=granularity, drop_channels=tuple(drop)
    )
    with state.workspaces.warehouse(workspace) as wh:
        return build_journeys(wh, config) if with_times else build_paths(wh, config)


@router.post("", summary="Run one attribution model on the workspace's journeys")
def attribute(workspace: str, body: AttributionIn, _: Viewer, state: StateDep) -> dict[str, Any]:
    days = body.half_life_days if body.model == "time_decay" else None
    paths = paths_of(
        state,
        workspace,
        body.lookback_days,
        body.granularity,
        body.drop_channels,
        with_times=days is not None,
    )
    return run_attribution(
        paths,
        body.model,
        order=body.order,
        bootstrap=body.bootstrap,
        level=body.level,
        half_life_days=days,
    )


@router.get("/compare", summary="Every model's credits side by side against last touch")
def compare(
    workspace: str,
    _: Viewer,
    state: StateDep,
    order: Annotated[int, Query(ge=1, le=4)] = 1,
    lookback_days: Annotated[float, Query(gt=0, le=365)] = 30.0,
) -> dict[str, Any]:
    paths = paths_of(state, workspace, lookback_days, "channel", [])
    frame = compare_models(paths, order=order)
    return {"items": frame.astype(object).where(frame.notna(), None).to_dict(orient="records")}
