"""Workspaces: list, register or create, inspect."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from spendlab.app import access
from spendlab.app.api.bodies import Body
from spendlab.app.api.deps import Admin, StateDep, Viewer
from spendlab.app.api.paging import Page, PageParams, page_params, paginate
from spendlab.errors import NotFoundError

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


@router.get("", response_model=Page[WorkspaceOut], summary="List the workspaces you can open")
def list_workspaces(
    p: Viewer, state: StateDep, paging: Annotated[PageParams, Depends(page_params)]
) -> dict:
    return paginate([w.to_dict() for w in access.visible(state, p)], paging)


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


class GrantIn(Body):
    role: Literal["viewer", "analyst"] = Field(
        description="The user's role in this workspace (admins reach every workspace)"
    )


class GrantOut(BaseModel):
    username: str
    role: str
    granted_by: str = ""


@router.get(
    "/{workspace}/grants", response_model=list[GrantOut], summary="Who may open this workspace"
)
def list_grants(workspace: str, _: Admin, state: StateDep) -> list[dict]:
    return access.grants(state.store, state.workspaces.get(workspace))


@router.put(
    "/{workspace}/grants/{username}", response_model=GrantOut, summary="Grant a user a role here"
)
def put_grant(
    workspace: str,
    username: Annotated[str, PathParam(min_length=1, max_length=64)],
    body: GrantIn,
    p: Admin,
    state: StateDep,
) -> dict:
    ws = state.workspaces.get(workspace)
    return access.grant(state.store, username, ws, body.role, by=p.username)


@router.delete("/{workspace}/grants/{username}", status_code=204, summary="Revoke a grant")
def delete_grant(
    workspace: str,
    username: Annotated[str, PathParam(min_length=1, max_length=64)],
    _: Admin,
    state: StateDep,
) -> None:
    if not access.revoke(state.store, username, state.workspaces.get(workspace)):
        raise NotFoundError(f"{username} has no grant in this workspace")
