"""Measure page, MMM section, in a real browser on a pre-fitted run (the shared small fit)."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from spendlab.app.access import grant
from spendlab.app.api import create_app
from spendlab.app.auth import create_user
from spendlab.app.store import open_store
from spendlab.config import Settings
from spendlab.measure.mmm import service
from spendlab.workspace import Workspace

from .conftest import PASSWORD, _free_port, sign_in

sys.path.insert(0, str(Path(__file__).parents[1] / "measure" / "mmm"))
from shared_run import copy_workspace, fitted_workspace


def _serve(root: Path, ws_name: str, ws: Path):
    import uvicorn

    store = open_store(f"sqlite:///{root / 'app.db'}")
    app = create_app(Settings(secret_key="m" * 40), store)
    create_user(store, "ada", PASSWORD, "admin")
    create_user(store, "vic", PASSWORD, "viewer")
    _row = app.state.spendlab.workspaces.register(ws_name, ws)
    grant(store, "vic", _row, "viewer", by="test")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return server, thread, store, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def mmm_site(tmp_path_factory):
    src, payload = fitted_workspace(tmp_path_factory)
    root = tmp_path_factory.mktemp("mmm-site")
    ws = copy_workspace(src, root / "ws", with_store=True)  # the CLI's run is in its store
    server, thread, _, url = _serve(root, "mmm", ws)
    run = service.get_run(Workspace.open(ws), payload["run_id"])
    yield {"url": url, "run": run, "payload": payload}
    server.should_exit = True
    thread.join(timeout=10)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory):
    """Ten days of data: the input builds, the fit then fails fast (more parameters than days)."""
    from spendlab.data.ingest import ingest_frames
    from spendlab.data.warehouse import Warehouse

    root = tmp_path_factory.mktemp("tiny-site")
    days = pd.date_range("2024-01-01", periods=10, freq="D")
    spend = pd.DataFrame({"date": days, "platform": "meta", "level": "account",
                          "account_id": "a", "currency": "USD",
                          "spend": np.linspace(10, 30, 10)})  # fmt: skip
    outcomes = pd.DataFrame({"date": days, "kpi": "revenue", "value": np.linspace(90, 99, 10)})
    with Warehouse.init(root / "ws", currency="USD") as wh:
        ingest_frames(wh, {"ad_performance": spend, "outcomes": outcomes})
    server, thread, _, url = _serve(root, "tiny", root / "ws")
    yield {"url": url}
    server.should_exit = True
    thread.join(timeout=10)
    shutil.rmtree(root, ignore_errors=True)


def test_measure_page_shows_the_fitted_run(page, mmm_site, shot):
    sign_in(page, mmm_site)
    page.click("#nav-measure")
    summary = mmm_site["run"]["summary"]
    for ch, r in summary["channels"].items():  # the page shows the run's own numbers
        i = r["iroas"]
        expect(page.locator(f"#mmm-iroas-{ch}")).to_have_text(
            f"{i['mean']:.2f} [{i['lo']:.2f}, {i['hi']:.2f}]"
        )
    health = page.locator("#mmm-health")
    for row in summary["health"]:
        expect(health).to_contain_text(row["check"])
    expect(health).to_contain_text("REVIEW")  # fast mode: no R-hat, says what to do
    expect(health).to_contain_text("refit without --fast")
    # the gate, beside the health card: the shared fast fit failed it and was forced active
    verdict = page.locator("#mmm-gate-verdict")
    expect(verdict).to_contain_text("FAIL, activated anyway (forced, recorded)")
    expect(page.locator("#mmm-gate")).to_contain_text("inference")
    expect(page.locator("#mmm-gate")).to_contain_text("refit without --fast")
    for fig in ("fitted", "iroas", "waterfall", "area", "curves", "adstock"):
        expect(page.locator(f"#mmm-fig-{fig} .main-svg").first).to_be_visible()
    expect(page.locator("#mmm-fig-iroas")).to_contain_text("break-even")
    expect(page.locator("#mmm-fit")).to_be_visible()  # an admin may fit
    expect(page.locator("#empty-measure")).to_have_count(0)
    shot(page, "measure-mmm")  # docs/img/measure-mmm.png is a copy of it


def test_viewers_see_results_but_cannot_fit(page, mmm_site):
    sign_in(page, mmm_site, "vic")
    page.click("#nav-measure")
    expect(page.locator("#mmm-health")).to_be_visible()
    expect(page.locator("#mmm-fit")).to_have_count(0)


def test_fit_button_runs_a_job_and_shows_why_it_failed(page, tiny_site, shot):
    sign_in(page, tiny_site)
    page.click("#nav-measure")
    expect(page.locator("#empty-measure")).to_contain_text("not configured")
    page.click("#mmm-fit")
    # the job runs in the background; the poller reports its outcome and lists the failed run
    expect(page.locator("#mmm-fit-error")).to_contain_text("The fit failed")
    expect(page.locator("#mmm-fit-error")).to_contain_text("parameters")
    shot(page, "measure-mmm-fit-failed")
