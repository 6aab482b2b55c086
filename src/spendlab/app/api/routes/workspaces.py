"""Workspaces: list, register or create, inspect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from spendlab.app.api.bodies import Body
from spendlab.app.api.deps import Admin, StateDep, Viewer
from spendlab.app.api.paging import Page, PageParams, page_params, paginate

router = APIRouter(prefix="/workspaces", tags=["workspaces"])


class WorkspaceOut(BaseModel):
    id: int
    name: str
    path: str


class WorkspaceIn(Body):
    name: str = Field(min_length=1, max_length=100)
    path: str = Field(
        min_length=1,
        max_length=4096,
        description="Folder on the server; for create, relative to SPENDLAB_WORKSPACES_ROOT",
    )
    create: bool = Field(False, description="Create a new workspace (else register one)")
    currency: str = Field("USD", min_length=3, max_length=3)


class TableOut(BaseModel):
    name: str
    rows: int
    first_date: str | None
    last_date: str | None


class WorkspaceDetail(WorkspaceOut):
    currency: str
    tables: list[TableOut]


@router.get("", response_model=Page[WorkspaceOut], summary="List workspaces")
def list_workspaces(
    _: Viewer, state: StateDep, paging: Annotated[PageParams, Depends(page_params)]
) -> dict:
    return paginate([w.to_dict() for w in state.workspaces.list()], paging)


@router.post("", response_model=WorkspaceOut, status_code=201, summary="Register or create")
def add_workspace(body: WorkspaceIn, _: Admin, state: StateDep) -> dict:
    extra = {"currency": body.currency.upper()} if body.create else {}
    return state.workspaces.register(body.name, body.path, create=body.create, **extra).to_dict()


@router.get("/{workspace}", response_model=WorkspaceDetail, summary="A workspace and its tables")
def get_workspace(workspace: str, _: Viewer, state: StateDep) -> dict:
    ws = state.workspaces.get(workspace)
    with state.workspaces.warehouse(ws.id, read_only=True) as wh:
        tables = [t.to_dict() for t in wh.list_tables()]
        currency = wh.currency
    return {**ws.to_dict(), "currency": currency, "tables": tables}
