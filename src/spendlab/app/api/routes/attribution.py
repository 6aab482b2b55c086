"""Attribution: credit conversions to channels from the workspace's journeys (touchpoints and
conversions), with any model, bootstrap intervals, spend/CPA/ROAS per channel, calibration to
lift tests or iROAS, and all models side by side."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import Field, StringConstraints

from spendlab.app.api.bodies import Body
from spendlab.app.api.deps import StateDep, Viewer
from spendlab.measure.attribution import MODELS, compare_models, paths_and_spend, run_attribution

router = APIRouter(prefix="/workspaces/{workspace}/attribution", tags=["attribution"])

Model = Literal[MODELS]  # type: ignore[valid-type]  # the one list, from the domain


Channel = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Measured = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class CalibrationIn(Body):
    """Causal measurements per channel; each caps the channel's credit, the rest goes to a
    ``(baseline)`` row."""

    lift: dict[Channel, Measured] = Field(
        default_factory=dict,
        max_length=200,
        description="channel -> incremental conversions measured by a lift test",
    )
    iroas: dict[Channel, Measured] = Field(
        default_factory=dict,
        max_length=200,
        description="channel -> incremental ROAS from an MMM or experiment (uses the spend)",
    )


class AttributionIn(Body):
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
    money: bool = Field(
        True, description="add spend (from ad_performance), cpa and roas per channel"
    )
    calibration: CalibrationIn | None = None


def _check_channels(calibration: CalibrationIn, channels: tuple[str, ...]) -> None:
    """Unknown channel names are a 422 naming the field, like any invalid body value."""
    errors = [
        {
            "loc": ("body", "calibration", kind, name),
            "msg": f"channel {name!r} is not in the journeys (channels: {', '.join(channels)})",
            "type": "value_error",
        }
        for kind in ("lift", "iroas")
        for name in getattr(calibration, kind)
        if name not in channels
    ]
    errors += [
        {
            "loc": ("body", "calibration", "iroas", name),
            "msg": f"channel {name!r} has both a lift test and an iROAS; give one",
            "type": "value_error",
        }
        for name in sorted(set(calibration.lift) & set(calibration.iroas))
    ]
    if errors:
        raise RequestValidationError(errors)


@router.post("", summary="Run one attribution model on the workspace's journeys")
def attribute(workspace: str, body: AttributionIn, _: Viewer, state: StateDep) -> dict[str, Any]:
    """Credits per channel (conversions, value, share; Markov: removal_effect), with
    ``*_lo``/``*_hi`` when bootstrapped. ``money`` adds spend, cpa, roas (+ intervals);
    ``calibration`` caps credits at lift-test / iROAS measurements and adds a ``(baseline)``
    row. Undefined ratios (CPA without conversions, ROAS without spend) are null."""
    days = body.half_life_days if body.model == "time_decay" else None
    cal = body.calibration or CalibrationIn()
    paths, spend = paths_and_spend(
        state.workspaces.handle(workspace),
        body.lookback_days,
        body.granularity,
        body.drop_channels,
        with_times=days is not None,
        with_spend=body.money or bool(cal.iroas),
    )
    _check_channels(cal, paths.channels)
    return run_attribution(
        paths,
        body.model,
        order=body.order,
        bootstrap=body.bootstrap,
        level=body.level,
        half_life_days=days,
        spend=spend,
        lift=cal.lift,
        iroas=cal.iroas,
        add_money=body.money,
    )


@router.get("/compare", summary="Every model's credits side by side against last touch")
def compare(
    workspace: str,
    _: Viewer,
    state: StateDep,
    order: Annotated[int, Query(ge=1, le=4)] = 1,
    lookback_days: Annotated[float, Query(gt=0, le=365)] = 30.0,
) -> dict[str, Any]:
    ws = state.workspaces.handle(workspace)
    paths, _ = paths_and_spend(ws, lookback_days, with_spend=False)
    frame = compare_models(paths, order=order)
    return {"items": frame.astype(object).where(frame.notna(), None).to_dict(orient="records")}
