"""Datasets: upload a file through the same readers as ``spendlab ingest``, list tables, loads."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from pydantic import BaseModel

from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.app.api.paging import Page, PageParams, page_params, paginate
from spendlab.app.api.routes.workspaces import TableOut
from spendlab.app.api.state import AppState
from spendlab.data.ingest import ingest_file
from spendlab.data.sources import describe_sources, get_source
from spendlab.errors import ConfigError

router = APIRouter(tags=["datasets"])
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
CHUNK = 1024 * 1024


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


def safe_name(filename: str | None) -> str:
    """The upload's base name, reduced to safe characters (no paths, no hidden files)."""
    base = Path((filename or "upload").replace("\\", "/")).name
    clean = _SAFE.sub("_", base).lstrip(".")[:120]
    return clean or "upload"


def _options(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        opts = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"options is not valid JSON ({e.msg} at character {e.pos}); send an object like "
            '{"table": "outcomes"}'
        ) from None
    if not isinstance(opts, dict):
        raise ConfigError('options must be a JSON object like {"table": "outcomes"}')
    return opts


def upload(
    state: AppState,
    workspace: str,
    file: UploadFile,
    source: str,
    options: str | None,
    dry_run: bool,
    on_error: str,
) -> dict[str, Any]:
    return ingest_upload(
        state, workspace, file.file, file.filename, source, options, dry_run, on_error
    )


def ingest_upload(
    state: AppState,
    workspace: str | int,
    stream: BinaryIO,
    filename: str | None,
    source: str,
    options: str | None,
    dry_run: bool = False,
    on_error: str = "abort",
) -> dict[str, Any]:
    """Save the upload under the workspace's ``uploads/`` folder (kept as lineage) and ingest it
    in one transaction; the report lists row-level issues."""
    get_source(source)  # unknown source: clear error before anything is written to disk
    opts = _options(options)
    ws = state.workspaces.get(workspace)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder = Path(ws.path) / "uploads" / f"{stamp}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    target = folder / safe_name(filename)
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
    try:
        with state.workspaces.warehouse(ws.id) as wh:
            report = ingest_file(wh, target, source, opts, on_error=on_error, dry_run=dry_run)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if dry_run:
        shutil.rmtree(folder, ignore_errors=True)
    return {**report.to_dict(), "workspace": ws.name, "file": safe_name(filename)}


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
