"""PostgreSQL stopped and restarted under a running server: requests during the outage get a
clean JSON 503 (no traceback, no hang); requests after it succeed without restarting the server."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from spendlab.app.api import create_app
from spendlab.app.auth import create_user
from spendlab.app.store import open_store
from spendlab.config import Settings

from .conftest import Cluster

PASSWORD = "correct-horse-battery"


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
