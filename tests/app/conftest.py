"""App fixtures: stores on SQLite and on a real PostgreSQL cluster the tests start, a small
simulated workspace, and a server app with an admin, an analyst and a viewer."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from spendlab.app.store import open_store
from spendlab.config import Settings

from ..conftest import forget_workspace_id

PG_BIN = Path("/usr/bin/pg_createcluster")
PASSWORD = "correct-horse-battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL 15 cluster of our own on a free port (never the default 5432 one)."""
    if not PG_BIN.exists():
        pytest.skip(
            "PostgreSQL server tools (pg_createcluster) not installed: apt install postgresql"
        )
    name = f"spendlab_{uuid.uuid4().hex[:8]}"
    port = _free_port()
    subprocess.run(
        ["pg_createcluster", "15", name, "--port", str(port), "--", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(["pg_ctlcluster", "15", name, "start"], check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(["pg_dropcluster", "15", name, "--stop"], check=False, capture_output=True)


def _pg_database(server: str) -> str:
    db = f"t_{uuid.uuid4().hex[:10]}"
    engine = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'CREATE DATABASE "{db}"'))
    engine.dispose()
    return f"{server}/{db}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return _pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def store(store_url: str):
    st = open_store(store_url)
    yield st
    st.close()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A small simulated workspace (built once per worker; tests copy it)."""
    from spendlab.data.ingest import ingest_frames
    from spendlab.data.warehouse import Warehouse
    from spendlab.simulate import SimConfig, simulate

    root = tmp_path_factory.mktemp("template") / "ws"
    market = simulate(SimConfig(seed=3, days=70, campaigns=8, users=500, customers=200))
    with Warehouse.init(root, currency="USD", name="demo") as wh:
        tables = ("ad_performance", "outcomes", "entities", "touchpoints", "conversions")
        ingest_frames(wh, {k: market.frames[k] for k in tables})
    return forget_workspace_id(root)


@pytest.fixture
def demo_ws(demo_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "demo-ws"
    shutil.copytree(demo_template, target)
    return target


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """argon2id with the smallest cost: the same code path, 100x faster (production keeps the
    library's defaults; test_auth checks the stored hash is argon2id)."""
    from argon2 import PasswordHasher

    import spendlab.app.auth as auth

    monkeypatch.setattr(
        auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def register(state, name: str, path) -> object:
    """Register a workspace on a test server and grant the test users their roles there
    (ana analyst, vic viewer; ada is an admin and needs no grant)."""
    from spendlab.app.access import grant

    row = state.workspaces.register(name, path)
    for user, role in (("ana", "analyst"), ("vic", "viewer")):
        grant(state.store, user, row, role, by="test")
    return row


def make_settings(**kw) -> Settings:
    base = {"secret_key": "x" * 40, "login_attempts_per_minute": 5, "scheduler": False}
    base.update(kw)
    return Settings(**base)


@pytest.fixture
def app_factory(tmp_path: Path, demo_ws: Path):
    """Build a server app on a fresh SQLite store with three users and the demo workspace."""
    from spendlab.app.api import create_app
    from spendlab.app.auth import create_user

    made = []

    def build(web: bool = False, **settings_kw):
        st = open_store(f"sqlite:///{tmp_path / f'app{len(made)}.db'}")
        app = create_app(make_settings(**settings_kw), st, web=web)
        for user, role in (("ada", "admin"), ("ana", "analyst"), ("vic", "viewer")):
            create_user(st, user, PASSWORD, role)
        register(app.state.spendlab, "demo", demo_ws)
        made.append(app)
        return app

    yield build
    for app in made:
        app.state.spendlab.close()


@pytest.fixture
def client(app_factory):
    from fastapi.testclient import TestClient

    with TestClient(app_factory()) as c:
        yield c


def login(client, user: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
