"""Background jobs: progress, results, failures, and jobs a stopped server left behind."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from spendlab.app.jobs import JobRunner
from spendlab.errors import DataError, NotFoundError

from .conftest import login


def test_a_job_reports_progress_then_its_result(store):
    runner = JobRunner(store, min_interval=0)
    gate = threading.Event()
    seen = {}

    def work(progress):
        progress(0.5, "half way")
        gate.wait(10)
        return {"answer": 42}

    job = runner.submit("demo", work, params={"k": 1}, user="ada")
    for _ in range(200):
        seen = runner.get(job)
        if seen["progress"] == 0.5:
            break
        threading.Event().wait(0.02)
    assert seen["status"] == "running" and seen["message"] == "half way"
    gate.set()
    done = runner.wait(job, timeout=10)
    assert done["status"] == "succeeded" and done["result"] == {"answer": 42}
    assert done["progress"] == 1.0 and done["created_by"] == "ada" and done["finished_at"]
    runner.shutdown()


def test_failures_keep_our_message_and_hide_bugs(store):
    runner = JobRunner(store)

    def bad_data(progress):
        raise DataError("channel 'tv' has no spend; drop it or load its spend")

    def bug(progress):
        raise KeyError("secret-value")

    a, b = runner.submit("x", bad_data), runner.submit("x", bug)
    assert runner.wait(a, 10)["error"] == "channel 'tv' has no spend; drop it or load its spend"
    err = runner.wait(b, 10)["error"]
    assert err.startswith("internal error (KeyError)") and "secret-value" not in err
    with pytest.raises(NotFoundError):
        runner.get("nope")
    runner.shutdown()


def test_jobs_a_stopped_server_left_are_marked_failed(store):
    from spendlab.app.store import Job

    with store.session() as s:
        s.add(Job(id="old", kind="mmm_fit", status="running"))
    JobRunner(store).shutdown()
    old = JobRunner(store).get("old")
    assert old["status"] == "failed" and "start it again" in old["error"]


def test_jobs_api(app_factory):
    app = app_factory()
    with TestClient(app) as c:
        job = app.state.spendlab.jobs.submit("demo", lambda p: {"ok": True}, workspace_id=1)
        app.state.spendlab.jobs.wait(job, 10)
        h = login(c, "vic")
        got = c.get(f"/api/v1/jobs/{job}", headers=h).json()
        assert got["status"] == "succeeded" and got["result"] == {"ok": True}
        listed = c.get("/api/v1/jobs?workspace=demo&kind=demo", headers=h).json()
        assert [j["id"] for j in listed["items"]] == [job]
        assert c.get("/api/v1/jobs/missing", headers=h).status_code == 404
