"""``spendlab plan optimize``: JSON keys of the issue, equal marginal returns, error exit code."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from spendlab.cli.main import app

CURVES = [
    {"id": "tv", "curve": {"type": "hill", "params": {"beta": 500, "half": 400, "s": 2}}},
    {
        "id": "search",
        "curve": {"type": "logistic", "params": {"beta": 300, "lam": 0.004}},
        "max": 600,
    },
    {"id": "social", "curve": {"type": "exponential", "params": {"beta": 250, "scale": 300}}},
]


def test_optimize_json(tmp_path: Path) -> None:
    f = tmp_path / "curves.json"
    f.write_text(json.dumps(CURVES))
    r = CliRunner().invoke(app, ["plan", "optimize", str(f), "--budget", "1000", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out["allocation"]) == {"tv", "search", "social"}
    assert abs(sum(out["allocation"].values()) - 1000) < 1e-6
    assert {"mean", "lo", "hi"} <= set(out["expected"])
    assert out["kkt_gap"] <= 1e-6
    m = list(out["marginal"].values())
    assert max(m) - min(m) < 1e-9 * max(m)


def test_optimize_infeasible_exit_code(tmp_path: Path) -> None:
    f = tmp_path / "curves.json"
    f.write_text(json.dumps([{**c, "max": 10} for c in CURVES]))
    r = CliRunner().invoke(app, ["plan", "optimize", str(f), "--budget", "1000", "--json"])
    assert r.exit_code == 5
    assert "cannot be spent" in json.loads(r.stdout)["error"]["message"]
