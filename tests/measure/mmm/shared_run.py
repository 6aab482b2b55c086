"""One small MMM fit shared by the store, CLI, API and browser tests of a whole test session.

``fitted_workspace(tmp_path_factory)`` simulates a 70-day workspace (ad_performance, outcomes,
controls), then runs ``spendlab mmm fit --workspace WS --fast --json`` once: the run lands in
WS/mmm/runs/<id>/ and in the workspace's store (WS/app.db), its curves in a curve set there.
Under pytest-xdist the first worker fits while the others wait on a file lock, so the session
pays for one fit (tens of seconds of JIT), not one per worker. Tests that write copy the folder
(:func:`copy_workspace`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from filelock import FileLock

CONTROLS = ("price", "promotion")
# 70 days: no yearly seasonality to learn (it would leave the Laplace Hessian singular)
FIT_ARGS = ["--fast", "--activate", "--draws", "100", "--yearly-order", "0",
            "--control", CONTROLS[0], "--control", CONTROLS[1]]  # fmt: skip


def _build(root: Path) -> dict:
    from typer.testing import CliRunner

    from spendlab.cli.main import app
    from spendlab.data.ingest import ingest_frames
    from spendlab.data.warehouse import Warehouse
    from spendlab.simulate import SimConfig, simulate

    ws = root / "ws"
    market = simulate(SimConfig(seed=3, days=70, campaigns=8, users=300, customers=100))
    with Warehouse.init(ws, currency="USD", name="mmm") as wh:
        tables = ("ad_performance", "outcomes", "controls", "entities")
        ingest_frames(wh, {k: market.frames[k] for k in tables})
    res = CliRunner().invoke(app, ["mmm", "fit", "--workspace", str(ws), *FIT_ARGS, "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    (root / "payload.json").write_text(json.dumps(payload))
    return payload


def fitted_workspace(tmp_path_factory) -> tuple[Path, dict]:
    """(workspace folder, the fit's JSON payload); built once per session."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this session only
    root = base / "mmm-shared"
    with FileLock(str(base / "mmm-shared.lock")):
        if (root / "payload.json").exists():
            return root / "ws", json.loads((root / "payload.json").read_text())
        root.mkdir(exist_ok=True)
        return root / "ws", _build(root)


def copy_workspace(src: Path, dest: Path, *, with_store: bool = False) -> Path:
    """A private copy (warehouse, run files), without the workspace's store (the CLI's run and
    curve set) unless ``with_store``: then the copy is the workspace moved, with its rows."""
    ignore = None if with_store else shutil.ignore_patterns("app.db*")
    shutil.copytree(src, dest, ignore=ignore)
    return dest
