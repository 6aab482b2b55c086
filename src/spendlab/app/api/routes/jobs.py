"""Background jobs: status, progress and result of long work (model fits, backtests)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from spendlab.app.api.deps import StateDep, Viewer
from spendlab.app.api.paging import PageParams, page_params, paginate

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("", summary="Jobs, newest first")
def list_jobs(
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
    workspace: Annotated[str | None, Query(max_length=100)] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    ws_id = state.workspaces.get(workspace).id if workspace else None
    return paginate(state.jobs.list(ws_id, kind), paging)


@router.get("/{job_id}", summary="A job's status, progress and result")
def get_job(
    job_id: Annotated[str, Path(max_length=32)], _: Viewer, state: StateDep
) -> dict[str, Any]:
    return state.jobs.get(job_id)
