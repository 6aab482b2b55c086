"""``spendlab user`` and ``spendlab serve`` (a real server process on a free port)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from typer.testing import CliRunner

from spendlab.cli.main import app

runner = CliRunner()
PASSWORD = "correct-horse-battery"


def test_user_add_list_and_errors(tmp_path):
    store = f"sqlite:///{tmp_path / 'app.db'}"
    r = runner.invoke(
        app,
        ["user", "add", "ada", "--role", "admin", "--password-stdin", "--store", store, "--json"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["role"] == "admin"
    r = runner.invoke(app, ["user", "list", "--store", store, "--json"])
    assert [u["username"] for u in json.loads(r.stdout)] == ["ada"]
    dup = runner.invoke(
        app, ["user", "add", "ada", "--password-stdin", "--store", store], input=PASSWORD + "\n"
    )
    assert dup.exit_code == 5 and "already exists" in dup.output
    short = runner.invoke(
        app, ["user", "add", "bob", "--password-stdin", "--store", store], input="short\n"
    )
    assert short.exit_code == 5 and "too short" in short.output
    changed = runner.invoke(
        app,
        ["user", "passwd", "ada", "--password-stdin", "--store", store, "--json"],
        input="another-long-password\n",
    )
    assert changed.exit_code == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_a_real_server(tmp_path, demo_workspace_path):
    port = _free_port()
    env = {
        **os.environ,
        "SPENDLAB_STORE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "SPENDLAB_SECRET_KEY": "s" * 40,
        "SPENDLAB_SCHEDULER": "1",  # the rule scheduler starts with the real server
    }
    cmd = [sys.executable, "-m", "spendlab.cli.main", "serve", "-w", str(demo_workspace_path)]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        health = None
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health") as r:
                    health = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.1)
        assert health and health["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login") as r:
            assert b"Sign in" in r.read()
        busy = subprocess.run(
            [*cmd, "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
        )
        assert busy.returncode == 5 and "in use" in busy.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def demo_workspace_path(tmp_path):
    from spendlab.data.warehouse import Warehouse

    ws = tmp_path / "ws"
    Warehouse.init(ws, currency="USD", name="served").close()
    return ws
