"""Browser tests: a real server on a free port and Debian's chromium driven by Playwright.

`make test` installs chromium with apt when it is missing (Playwright's own download cannot run
here). Screenshots of every page land in test-output/screenshots/ for review.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import threading
import time
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import expect

from spendlab.app.access import grant
from spendlab.app.api import create_app
from spendlab.app.auth import create_user
from spendlab.app.store import open_store
from spendlab.config import Settings

# a loaded 2-core CI box renders slowly: wait longer than Playwright's 5 s default, never sleep
expect.set_options(timeout=30_000)
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct-horse-battery"
SHOTS = Path("test-output") / "screenshots"  # not test-results: pytest-playwright wipes it


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: run `make test` (it installs it with apt)")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """A running server over a small simulated workspace, plus what the warehouse says."""
    import uvicorn

    from spendlab.data.ingest import ingest_frames
    from spendlab.data.warehouse import Warehouse
    from spendlab.simulate import SimConfig, simulate

    root = tmp_path_factory.mktemp("site")
    ws = root / "ws"
    market = simulate(SimConfig(seed=5, days=75, campaigns=10, users=500, customers=200))
    with Warehouse.init(ws, currency="USD", name="e2e") as wh:
        tables = ("ad_performance", "outcomes", "entities", "touchpoints", "conversions")
        ingest_frames(wh, {k: market.frames[k] for k in tables})
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    last = con.execute("select max(date) from ad_performance").fetchone()[0]
    start = last - dt.timedelta(days=29)
    spend, clicks = con.execute(
        "select sum(spend), sum(clicks) from ad_performance where date between ? and ?",
        [start, last],
    ).fetchone()
    con.close()

    store = open_store(f"sqlite:///{root / 'app.db'}")
    app = create_app(Settings(secret_key="e" * 40, scheduler=False), store)
    create_user(store, "ada", PASSWORD, "admin")
    create_user(store, "vic", PASSWORD, "viewer")
    _row = app.state.spendlab.workspaces.register("e2e", ws)
    grant(store, "vic", _row, "viewer", by="test")
    # the simulator's true channel curves, as `spendlab demo` registers them (the Plan page)
    from spendlab.plan.curvesets import save_curve_set, truth_frames

    frame, meta = truth_frames(market.truth)["channels"]
    handle = app.state.spendlab.workspaces.handle("e2e")  # the workspace's own store
    save_curve_set(handle.store.engine, handle.id, "simulator truth", frame, "day", "simulator",
                   meta)  # fmt: skip
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield {
        "url": f"http://127.0.0.1:{port}",
        "spend": spend,
        "clicks": clicks,
        "workspace": ws,
        "state": app.state.spendlab,
        "app": app,
    }
    server.should_exit = True
    thread.join(timeout=10)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def patient(page):
    page.set_default_timeout(30_000)


@pytest.fixture
def shot():
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    return take


def sign_in(page, site, user: str = "ada") -> None:
    page.goto(site["url"] + "/")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#ws-select")
