"""Fault drills: real processes stopped with SIGKILL at a named point (the test hook in
``spendlab.core.faults``), then a fresh process checks what it finds.

``kill_at(point, argv)`` starts ``python argv...`` with ``SPENDLAB_TEST_PAUSE_AT=point``, waits
(bounded) for the process to announce it reached the point, and kills it there with SIGKILL:
no ``finally``, no ``atexit``, no rollback by the dying process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from spendlab.core.faults import PAUSE_AT, PAUSE_DIR, PAUSE_TIMEOUT

#: A process that never reaches its point (it failed, or the point moved) fails the drill here.
REACH_TIMEOUT = 60.0


def env_for(point: str | None, pause_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, PAUSE_DIR: str(pause_dir), PAUSE_TIMEOUT: "120", **extra}
    env.pop(PAUSE_AT, None)
    if point:
        env[PAUSE_AT] = point
    return env


def kill_at(point: str, argv: list[str], pause_dir: Path, **extra: str) -> None:
    """Run ``python *argv`` until it reaches ``point``, then SIGKILL it."""
    reached = pause_dir / f"{point}.reached"
    reached.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, *argv],
        env=env_for(point, pause_dir, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + REACH_TIMEOUT
    try:
        while not reached.exists():
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"the process ended (code {proc.returncode}) before {point}:\n{out}")
            if time.monotonic() > deadline:
                pytest.fail(f"the process did not reach {point} in {REACH_TIMEOUT:.0f} s")
            time.sleep(0.02)  # polling for a state, bounded by the deadline
        assert int(reached.read_text()) == proc.pid
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


def run(argv: list[str], pause_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``python *argv`` to the end with no pause point (the re-run after a kill)."""
    return subprocess.run(
        [sys.executable, *argv],
        env=env_for(None, pause_dir, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli(*args: str) -> list[str]:
    return ["-m", "spendlab.cli.main", *args]


def counts(ws: Path) -> dict[str, int]:
    """Rows per table in a workspace's warehouse, read by a fresh DuckDB connection."""
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    try:
        names = [
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        ]
        return {n: con.execute(f'select count(*) from "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


@pytest.fixture
def pause_dir(tmp_path: Path) -> Path:
    d = tmp_path / "pause"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def market():
    from spendlab.simulate import SimConfig, simulate

    return simulate(SimConfig(seed=3, days=70, campaigns=8, users=500, customers=200))


@pytest.fixture(scope="session")
def template(tmp_path_factory, market) -> Path:
    """A small simulated workspace (tests copy it)."""
    from spendlab.data.ingest import ingest_frames
    from spendlab.data.warehouse import Warehouse

    from ..conftest import forget_workspace_id

    root = tmp_path_factory.mktemp("template") / "ws"
    with Warehouse.init(root, currency="USD", name="demo") as wh:
        tables = ("ad_performance", "outcomes", "entities", "touchpoints", "conversions")
        ingest_frames(wh, {k: market.frames[k] for k in tables})
    return forget_workspace_id(root)


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(template, target)
    return target


def later_rows(market, days: int, copies: int = 1) -> pd.DataFrame:
    """The market's ad_performance rows shifted ``days`` (and again, ``copies`` times) later:
    rows the workspace does not hold yet."""
    ap = market.frames["ad_performance"]
    parts = []
    for k in range(1, copies + 1):
        x = ap.copy()
        x["date"] = pd.to_datetime(x["date"]) + pd.Timedelta(days=days * k)
        parts.append(x)
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class Cluster:
    name: str
    url: str

    def ctl(self, action: str) -> None:
        fast = ["-m", "fast"] if action != "start" else []
        cmd = ["pg_ctlcluster", "15", self.name, action, *fast]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL 15 cluster of the drills' own (the PostgreSQL drill stops and starts it),
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
