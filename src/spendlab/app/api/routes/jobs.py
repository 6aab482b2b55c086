"""Background jobs: status, progress and result of long work (model fits, backtests)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from spendlab.app import access
from spendlab.app.api.deps import StateDep, Viewer
from spendlab.app.api.paging import PageParams, page_params, paginate
from spendlab.errors import NotFoundError, WorkspaceNotFoundError

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("", summary="Jobs, newest first (of the workspaces you can open)")
def list_jobs(
    p: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
    workspace: Annotated[str | None, Query(max_length=100)] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    ws_id = None
    if workspace:
        ws_id = state.workspaces.get(workspace).id
        access.workspace_principal(state, p, ws_id)
    ids = access.granted_ids(state.store, p)
    jobs = state.jobs.list(ws_id, kind)
    return paginate([j for j in jobs if ids is None or j["workspace_id"] in ids], paging)


@router.get("/{job_id}", summary="A job's status, progress and result")
def get_job(
    job_id: Annotated[str, Path(max_length=32)], p: Viewer, state: StateDep
) -> dict[str, Any]:
    job = state.jobs.get(job_id)
    if job["workspace_id"] is not None:
        try:
            access.workspace_principal(state, p, job["workspace_id"])
        except WorkspaceNotFoundError:
            raise NotFoundError(f"no job {job_id!r}") from None
    return job
