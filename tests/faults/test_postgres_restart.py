"""PostgreSQL stopped and restarted under a running server: requests during the outage get a
clean JSON 503 (no traceback, no hang); requests after it succeed without restarting the server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from spendlab.app.api import create_app
from spendlab.app.auth import create_user
from spendlab.app.store import open_store
from spendlab.config import Settings

PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Cluster:
    name: str
    url: str

    def ctl(self, action: str) -> None:
        fast = ["-m", "fast"] if action != "start" else []
        cmd = ["pg_ctlcluster", "15", self.name, action, *fast]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL 15 cluster of this module's own (it is stopped and started by the tests),
    on a free port; never the default 5432 one."""
    if shutil.which("pg_createcluster") is None and not Path("/usr/bin/pg_createcluster").exists():
        pytest.skip(
            "PostgreSQL server tools (pg_createcluster) not installed: apt install postgresql"
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name = f"spendlab_faults_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["pg_createcluster", "15", name, "--port", str(port), "--", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    try:
        c = Cluster(name, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
        c.ctl("start")
        yield c
    finally:
        subprocess.run(["pg_dropcluster", "15", name, "--stop"], check=False, capture_output=True)


def _assert_clean_503(r) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["retry-after"] == "5"
    err = r.json()["error"]
    assert err["code"] == "database_unavailable" and err["status"] == 503
    assert "try again" in err["message"]
    assert "Traceback" not in r.text and "psycopg" not in r.text  # nothing internal leaks


def test_requests_fail_cleanly_while_postgres_restarts_and_then_recover(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
):
    store = open_store(cluster.url)
    create_user(store, "ada", PASSWORD, "admin")
    app = create_app(Settings(secret_key="x" * 40, scheduler=False), store, web=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/api/v1/auth/token", data={"username": "ada", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert client.get("/api/v1/workspaces", headers=headers).status_code == 200

        cluster.ctl("stop")  # the pool still holds connections to the server that went away
        try:
            caplog.clear()
            _assert_clean_503(client.get("/api/v1/workspaces", headers=headers))
            _assert_clean_503(client.get("/api/v1/jobs", headers=headers))
            _assert_clean_503(
                client.post("/api/v1/auth/token", data={"username": "ada", "password": PASSWORD})
            )
            _assert_clean_503(client.get("/api/v1/health"))
            logged = [rec for rec in caplog.records if rec.name == "spendlab.api"]
            assert logged and all(rec.exc_info is None for rec in logged)  # an outage, not a bug
            assert all(rec.levelname == "WARNING" for rec in logged)
        finally:
            cluster.ctl("start")

        # the same server, no restart: the pool reconnects (pool_pre_ping)
        assert client.get("/api/v1/workspaces", headers=headers).status_code == 200
        assert client.get("/api/v1/health").json()["status"] == "ok"
        r = client.post("/api/v1/auth/token", data={"username": "ada", "password": PASSWORD})
        assert r.status_code == 200

        cluster.ctl("restart")  # a restart between two requests is invisible
        assert client.get("/api/v1/workspaces", headers=headers).status_code == 200
    app.state.spendlab.close()
