"""Campaign explorer: KPIs by hierarchy level and date range, with the previous period."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from spendlab.app.api.deps import StateDep, Viewer
from spendlab.core.dates import DateRange
from spendlab.data import explorer as ex
from spendlab.errors import ConfigError

router = APIRouter(prefix="/workspaces/{workspace}/explorer", tags=["explorer"])

Preset = Literal[
    "last_7_days",
    "last_14_days",
    "last_30_days",
    "last_90_days",
    "month_to_date",
    "last_month",
    "all",
]


class Scope(BaseModel):
    """Date range (a preset ending at the latest day with data, or start/end) and filters."""

    preset: Preset = "last_30_days"
    start: dt.date | None = None
    end: dt.date | None = None
    compare: bool = True
    platform: str | None = None
    account_id: str | None = None
    campaign_id: str | None = None
    ad_group_id: str | None = None
    country: str | None = None
    device: str | None = None

    def filters(self) -> dict[str, str]:
        keys = ("platform", "account_id", "campaign_id", "ad_group_id", "country", "device")
        return {k: getattr(self, k) for k in keys if getattr(self, k) not in (None, "")}

    def range(self, wh) -> DateRange | None:
        if (self.start is None) != (self.end is None):
            raise ConfigError("give both start and end, or neither (then preset applies)")
        if self.start is not None and self.end is not None:
            if self.end < self.start:
                raise ConfigError(f"end {self.end} is before start {self.start}; swap them")
            if (self.end - self.start).days > 3660:
                raise ConfigError("date range longer than 10 years; narrow it")
            return DateRange(self.start, self.end)
        full = ex.data_range(wh)
        if full is None:
            return None
        return ex.resolve_preset(self.preset, full.end, full.start)


def scope(
    preset: Preset = "last_30_days",
    start: dt.date | None = None,
    end: dt.date | None = None,
    compare: bool = True,
    platform: Annotated[str | None, Query(max_length=100)] = None,
    account_id: Annotated[str | None, Query(max_length=100)] = None,
    campaign_id: Annotated[str | None, Query(max_length=100)] = None,
    ad_group_id: Annotated[str | None, Query(max_length=100)] = None,
    country: Annotated[str | None, Query(max_length=100)] = None,
    device: Annotated[str | None, Query(max_length=100)] = None,
) -> Scope:
    return Scope(
        preset=preset,
        start=start,
        end=end,
        compare=compare,
        platform=platform,
        account_id=account_id,
        campaign_id=campaign_id,
        ad_group_id=ad_group_id,
        country=country,
        device=device,
    )


ScopeDep = Annotated[Scope, Depends(scope)]
_EMPTY = "no ad delivery loaded yet: upload platform exports on the Data page (POST .../datasets)"


@router.get("/summary", summary="KPI totals with previous-period deltas")
def summary(workspace: str, sc: ScopeDep, _: Viewer, state: StateDep) -> dict[str, Any]:
    with state.workspaces.warehouse(workspace, read_only=True) as wh:
        rng = sc.range(wh)
        if rng is None:
            return {"empty": True, "message": _EMPTY}
        return {"empty": False, **ex.kpi_totals(wh, rng, sc.filters(), sc.compare)}


@router.get("/entities", summary="One page of entities at a level with their KPIs")
def entities(
    workspace: str,
    sc: ScopeDep,
    _: Viewer,
    state: StateDep,
    level: Literal["account", "campaign", "ad_group", "keyword"] = "campaign",
    sort: Annotated[str, Query(max_length=20)] = "spend",
    order: Literal["asc", "desc"] = "desc",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    with state.workspaces.warehouse(workspace, read_only=True) as wh:
        rng = sc.range(wh)
        if rng is None:
            return {"items": [], "total": 0, "page": page, "page_size": page_size}
        rows, total = ex.kpi_table(
            wh,
            level,
            rng,
            sc.filters(),
            compare=sc.compare,
            sort=sort,
            descending=order == "desc",
            offset=(page - 1) * page_size,
            limit=page_size,
        )
        per = ex.period(rng, sc.compare).to_dict()
    return {"items": rows, "total": total, "page": page, "page_size": page_size, "period": per}


@router.get("/trend", summary="Daily spend and revenue")
def trend(workspace: str, sc: ScopeDep, _: Viewer, state: StateDep) -> dict[str, Any]:
    with state.workspaces.warehouse(workspace, read_only=True) as wh:
        rng = sc.range(wh)
        if rng is None:
            return {"items": []}
        df = ex.trend(wh, rng, sc.filters())
    df["date"] = df["date"].astype(str)
    return {"items": df.astype(object).where(df.notna(), None).to_dict(orient="records")}
