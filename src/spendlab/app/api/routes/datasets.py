"""Datasets: upload a file through the same readers as ``spendlab ingest``, list tables, loads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from pydantic import BaseModel

from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.app.api.paging import Page, PageParams, page_params, paginate
from spendlab.app.api.routes.workspaces import TableOut
from spendlab.app.api.state import AppState
from spendlab.data.ingest import OnError
from spendlab.data.service import ingest_upload
from spendlab.data.sources import describe_sources

router = APIRouter(tags=["datasets"])


class SourceOut(BaseModel):
    name: str
    description: str
    tables: list[str]
    suffixes: list[str]


class LoadOut(BaseModel):
    load_id: str
    source: str
    file: str
    loaded_at: str
    rows_read: int
    added: int
    replaced: int
    unchanged: int
    rejected: int


def upload(
    state: AppState,
    workspace: str,
    file: UploadFile,
    source: str,
    options: str | None,
    dry_run: bool,
    on_error: OnError,
) -> dict[str, Any]:
    """Ingest an uploaded file (:func:`spendlab.data.service.ingest_upload`); the report names
    the workspace as the server registered it."""
    row = state.workspaces.get(workspace)
    report = ingest_upload(
        state.workspaces.handle(row.id),
        file.filename,
        file.file,
        source,
        options,
        dry_run=dry_run,
        on_error=on_error,
    )
    return {**report, "workspace": row.name}


@router.get("/sources", response_model=list[SourceOut], summary="File formats the readers know")
def sources(_: Viewer) -> list[dict]:
    return describe_sources()


@router.get(
    "/workspaces/{workspace}/datasets",
    response_model=list[TableOut],
    summary="Tables with row counts and date ranges",
)
def datasets(workspace: str, _: Viewer, state: StateDep) -> list[dict]:
    with state.workspaces.warehouse(workspace) as wh:
        return [t.to_dict() for t in wh.list_tables()]


@router.post(
    "/workspaces/{workspace}/datasets",
    summary="Upload a file: validated, then loaded in one transaction",
    responses={413: {"description": "File too large"}, 422: {"description": "Rows rejected"}},
)
def upload_dataset(
    workspace: str,
    _: Analyst,
    state: StateDep,
    file: Annotated[UploadFile, File(description="The export file")],
    source: Annotated[str, Form(max_length=40, description="Reader name, see GET /sources")],
    options: Annotated[str | None, Form(max_length=20_000, description="JSON object")] = None,
    dry_run: Annotated[bool, Form(description="Validate only, write nothing")] = False,
    on_error: Annotated[Literal["abort", "skip"], Form()] = "abort",
) -> dict[str, Any]:
    return upload(state, workspace, file, source, options, dry_run, on_error)


@router.get("/workspaces/{workspace}/loads", response_model=Page[LoadOut], summary="Load log")
def loads(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
) -> dict:
    with state.workspaces.warehouse(workspace) as wh:
        rows = wh.loads()
    items = [
        {
            **{k: r[k] for k in ("load_id", "source", "rows_read", "added", "replaced")},
            "unchanged": r["unchanged"],
            "rejected": r["rejected"],
            "file": Path(str(r["file"])).name,
            "loaded_at": r["loaded_at"].isoformat(),
        }
        for r in rows
    ]
    return paginate(items, paging)
