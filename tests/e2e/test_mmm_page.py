"""Measure page, MMM section, in a real browser on a pre-fitted run (the shared small fit)."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from spendlab.app.api import create_app
from spendlab.app.auth import create_user
from spendlab.app.store import open_store
from spendlab.config import Settings
from spendlab.measure.mmm import store as runs

from .conftest import PASSWORD, SHOTS, _free_port, sign_in

sys.path.insert(0, str(Path(__file__).parents[1] / "measure" / "mmm"))
from shared_run import copy_workspace, fitted_workspace

DOCS_IMG = Path(__file__).parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def mmm_site(tmp_path_factory):
    import uvicorn

    src, payload = fitted_workspace(tmp_path_factory)
    root = tmp_path_factory.mktemp("mmm-site")
    ws = copy_workspace(src, root / "ws")
    store = open_store(f"sqlite:///{root / 'app.db'}")
    app = create_app(Settings(secret_key="m" * 40), store)
    create_user(store, "ada", PASSWORD, "admin")
    create_user(store, "vic", PASSWORD, "viewer")
    app.state.spendlab.workspaces.register("mmm", ws)
    run = runs.register_run(store.engine, ws, ws / "mmm" / "runs" / payload["run_id"], payload)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "run": run, "payload": payload}
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
    for fig in ("fitted", "iroas", "waterfall", "area", "curves", "adstock"):
        expect(page.locator(f"#mmm-fig-{fig} .main-svg").first).to_be_visible()
    expect(page.locator("#mmm-fig-iroas")).to_contain_text("break-even")
    expect(page.locator("#mmm-fit")).to_be_visible()  # an admin may fit
    expect(page.locator("#empty-measure")).to_have_count(0)
    shot(page, "measure-mmm")
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHOTS / "measure-mmm.png", DOCS_IMG / "measure-mmm.png")


def test_viewers_see_results_but_cannot_fit(page, mmm_site):
    sign_in(page, mmm_site, "vic")
    page.click("#nav-measure")
    expect(page.locator("#mmm-health")).to_be_visible()
    expect(page.locator("#mmm-fit")).to_have_count(0)
