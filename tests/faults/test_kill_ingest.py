"""kill -9 during a load, and a disk that fills during a load: nothing half-written, nothing lost,
and the same command completes afterwards."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import cli, counts, kill_at, later_rows, run


def _ingest(ws: Path, file: Path) -> list[str]:
    return cli(
        "ingest", str(file), "-s", "generic", "-o", "table=ad_performance", "-w", str(ws), "--json"
    )


def test_a_load_killed_before_its_commit_leaves_nothing_and_reruns(
    ws: Path, market, tmp_path: Path, pause_dir: Path
):
    file = tmp_path / "more.csv"
    later_rows(market, days=100).to_csv(file, index=False)
    n = len(market.frames["ad_performance"])
    before = counts(ws)

    # the upserts and the load-log row are written, the transaction is not committed
    kill_at("ingest.before_commit", _ingest(ws, file), pause_dir)

    assert counts(ws) == before  # not one row, not a load-log entry
    done = run(_ingest(ws, file), pause_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["rows"]["added"] == n
    after = counts(ws)
    assert after["ad_performance"] == before["ad_performance"] + n
    assert after["_loads"] == before["_loads"] + 1
    assert {k: v for k, v in after.items() if k not in ("ad_performance", "_loads")} == {
        k: v for k, v in before.items() if k not in ("ad_performance", "_loads")
    }


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 3 MB tmpfs: a real file system that fills up (needs root and mount)."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a size-limited file system")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


def test_disk_full_during_a_load_is_a_clear_error_and_loses_nothing(
    template: Path, small_disk: Path, market, tmp_path: Path, pause_dir: Path
):
    ws = small_disk / "ws"
    shutil.copytree(template, ws)
    big = tmp_path / "big.csv"  # ~5 MB of new rows for a disk with under 1 MB free
    later_rows(market, days=100, copies=4).to_csv(big, index=False)
    before = counts(ws)

    r = run(_ingest(ws, big), pause_dir)

    assert r.returncode == 4, r.stdout + r.stderr  # a workspace error, not a crash
    assert "Traceback" not in r.stdout + r.stderr
    error = json.loads(r.stdout)["error"]
    assert error["type"] == "WorkspaceError"
    assert "disk" in error["message"] and str(ws) in error["message"]
    assert "free space" in error["message"]
    assert counts(ws) == before  # the rows loaded before are all there, nothing half-loaded

    # space freed (the file system grown): the same command completes
    subprocess.run(["mount", "-o", "remount,size=128m", str(small_disk)], check=True)
    done = run(_ingest(ws, big), pause_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert counts(ws)["ad_performance"] == before["ad_performance"] + 4 * len(
        market.frames["ad_performance"]
    )
