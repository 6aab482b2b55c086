"""A running server and the CLI on one workspace at the same time (real processes): the server
holds no warehouse open between requests, so a cron-style ``spendlab ingest`` and
``spendlab tables`` succeed beside it, and the dashboard's API shows the new rows."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from spendlab.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"
PASSWORD = "correct-horse-battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spendlab.cli.main", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _request(url: str, token: str | None = None, data: bytes | None = None) -> dict:
    req = urllib.request.Request(url, data=data)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


@pytest.fixture
def server(tmp_path):
    """``spendlab serve -w W`` in its own process, its server store under SPENDLAB_HOME (no
    store flag, no SPENDLAB_STORE_URL), and a token of an analyst."""
    ws = Workspace.init(tmp_path / "ws", currency="USD", name="shared")
    env = {
        **{k: v for k, v in os.environ.items() if k != "SPENDLAB_STORE_URL"},
        "SPENDLAB_HOME": str(tmp_path / "home"),
        "SPENDLAB_SECRET_KEY": "s" * 40,
        "SPENDLAB_SCHEDULER": "0",
        "SPENDLAB_LOCK_WAIT": "60",
        "SPENDLAB_LOGIN_ATTEMPTS_PER_MINUTE": "3",
    }
    added = _cli(env, "user", "add", "ana", "--role", "analyst", "--password-stdin",
                 "--workspace", str(ws.path), stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spendlab.cli.main", "serve", "-w", str(ws.path),
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                _request(f"{base}/api/v1/health")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"the server stopped: {proc.stdout.read().decode()[-3000:]}")
                time.sleep(0.1)
        form = urllib.parse.urlencode({"username": "ana", "password": PASSWORD}).encode()
        token = _request(f"{base}/api/v1/auth/token", data=form)["access_token"]
        yield {"ws": ws, "env": env, "base": base, "token": token}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _rows(server, table: str) -> int:
    detail = _request(f"{server['base']}/api/v1/workspaces/1", server["token"])
    return {t["name"]: t["rows"] for t in detail["tables"]}[table]


def test_cli_ingest_beside_a_running_server(server):
    assert _rows(server, "ad_performance") == 0  # the server has opened the warehouse
    env, ws = server["env"], server["ws"]
    loaded = _cli(env, "ingest", str(FIXTURES / "google_ads_ui" / "keywords_en.csv"),
                  "--source", "google_ads_ui", "--workspace", str(ws.path), "--json")  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    added = json.loads(loaded.stdout)["rows"]["added"]
    assert added > 0
    tables = _cli(env, "tables", "--workspace", str(ws.path), "--json")
    assert tables.returncode == 0, tables.stderr
    cli_rows = {t["name"]: t["rows"] for t in json.loads(tables.stdout)}["ad_performance"]
    assert cli_rows == added
    # the dashboard's API sees the rows the CLI loaded
    assert _rows(server, "ad_performance") == added
    assert (
        _request(f"{server['base']}/api/v1/workspaces/1/loads", server["token"])["items"][0][
            "source"
        ]
        == "google_ads_ui"
    )


def test_requests_and_cli_reads_interleave(server):
    """Many API reads while the CLI reads and writes: none fails, none waits out its bound."""
    env, ws = server["env"], server["ws"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "spendlab.cli.main", *args, "--workspace", str(ws.path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for args in (
            [
                "ingest",
                str(FIXTURES / "google_ads_ui" / "keywords_en.csv"),
                "--source",
                "google_ads_ui",
            ],
            ["tables"],
            ["loads"],
        )  # fmt: skip
    ]
    for _ in range(20):
        _rows(server, "ad_performance")
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err


def test_forwarded_for_does_not_dodge_the_login_limit(server):
    """No proxy is trusted by default: a client rotating X-Forwarded-For is still one address."""
    codes = []
    for i in range(4):
        form = urllib.parse.urlencode({"username": "ana", "password": "wrong"}).encode()
        req = urllib.request.Request(f"{server['base']}/api/v1/auth/token", data=form)
        req.add_header("X-Forwarded-For", f"203.0.113.{i}")
        try:
            urllib.request.urlopen(req, timeout=30)
            codes.append(200)
        except urllib.error.HTTPError as e:
            codes.append(e.code)
    assert codes == [401, 401, 401, 429]
