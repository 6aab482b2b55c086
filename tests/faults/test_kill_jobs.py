"""kill -9 of a server while an MMM fit job runs: after the restart the job and its run say
failed, with the reason, and a new fit completes."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from spendlab.app.api import create_app
from spendlab.app.store import open_store
from spendlab.config import Settings
from spendlab.measure.mmm import service
from spendlab.plan.mmm_fit import queue_fit
from spendlab.workspace import Workspace

from .conftest import kill_at

#: A server process (the app the server runs) that queues a fast fit and waits for it.
SERVER = """
import sys
from functools import partial
from spendlab.app.api import create_app
from spendlab.app.store import open_store
from spendlab.config import Settings
from spendlab.measure.mmm import service
from spendlab.plan.mmm_fit import queue_fit

app = create_app(Settings(secret_key="x" * 40, scheduler=False), open_store(sys.argv[1]),
                 web=False)
state = app.state.spendlab
row = state.workspaces.register("demo", sys.argv[2])
ws = state.workspaces.handle(row.id)
plan = service.prepare_fit(ws, kpi="revenue", fast=True)
submit = partial(state.jobs.submit, "mmm_fit", workspace_id=row.id, user="ana")
out = queue_fit(ws, plan, user="ana", submit=submit)
state.jobs.wait(out["job_id"])
"""


def _server(url: str):
    app = create_app(Settings(secret_key="x" * 40, scheduler=False), open_store(url), web=False)
    return app.state.spendlab


def test_a_fit_job_killed_with_its_server_fails_with_the_reason_and_refits(
    ws: Path, tmp_path: Path, pause_dir: Path
):
    url = f"sqlite:///{tmp_path / 'server.db'}"

    # the job is running its fit; the run is indexed as running in the workspace's store
    kill_at("mmm.fit", ["-c", SERVER, url, str(ws)], pause_dir)

    handle = Workspace.open(ws)
    (left,) = service.list_runs(handle)  # read without the server's reconcile
    assert left["status"] == "running" and left["job_id"]

    state = _server(url)  # the restart: start-up reconciles jobs, then runs
    try:
        job = state.jobs.get(left["job_id"])
        assert job["status"] == "failed"
        assert job["error"] == "the server stopped while it ran; start it again"
        run = service.get_run(handle, left["id"])
        assert run["status"] == "failed" and "server stopped while it ran" in run["error"]
        assert state.jobs.list(kind="mmm_fit") == [job]  # nothing queued or running is left

        # re-running completes
        row = state.workspaces.get("demo")
        plan = service.prepare_fit(handle, kpi="revenue", fast=True)
        submit = partial(state.jobs.submit, "mmm_fit", workspace_id=row.id, user="ana")
        out = queue_fit(handle, plan, user="ana", submit=submit)
        done = state.jobs.wait(out["job_id"], timeout=120)
        assert done["status"] == "succeeded", done["error"]
        assert service.get_run(handle, out["run_id"])["status"] == "succeeded"
        assert done["result"]["curve_set"] is not None
    finally:
        state.close()
