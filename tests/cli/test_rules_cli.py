"""`spendlab rules ...` end to end on a simulated workspace."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from spendlab.cli.main import app
from spendlab.data.ingest import ingest_frames
from spendlab.data.warehouse import Warehouse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from automate.conftest import AS_OF, market_frames

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "spendlab" / "automate" / "templates"
runner = CliRunner()


def _ws(tmp_path: Path) -> Path:
    ap, ents = market_frames()
    with Warehouse.init(tmp_path / "ws") as wh:
        ingest_frames(wh, {"ad_performance": ap, "entities": ents})
    return tmp_path / "ws"


def test_validate_ok_and_bad(tmp_path):
    r = runner.invoke(app, ["rules", "validate", str(TEMPLATES), "--json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)["rules"]) == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nconditions: {kpi: nope, op: '>', value: 1}\naction: {type: pause}\n")
    r = runner.invoke(app, ["rules", "validate", str(bad), "--json"])
    assert r.exit_code == 5
    assert "kpi" in json.loads(r.output)["error"]["message"]


def test_run_dry_then_suggest_approve_undo_log(tmp_path):
    ws = _ws(tmp_path)
    rule = str(TEMPLATES / "cut-bids-cpa-2x-campaign.yaml")
    base = ["--workspace", str(ws), "--as-of", AS_OF.isoformat(), "--json"]
    r = runner.invoke(app, ["rules", "run", rule, "--dry-run", *base])
    assert r.exit_code == 0, r.output
    acts = json.loads(r.output)
    assert acts and {"rule_id", "level", "entity_id", "action", "old_value", "new_value",
                     "reason"} <= set(acts[0])  # fmt: skip
    assert all(a["new_value"] < a["old_value"] for a in acts if a["status"] == "proposed")
    r = runner.invoke(app, ["rules", "run", rule, "--suggest", *base])
    ids = [a["action_id"] for a in json.loads(r.output) if a["status"] == "proposed"]
    assert ids
    r = runner.invoke(app, ["rules", "approve", *map(str, ids), "--workspace", str(ws), "--json"])
    assert json.loads(r.output)["executed"] == ids
    r = runner.invoke(app, ["rules", "log", "--workspace", str(ws), "--json"])
    assert {a["status"] for a in json.loads(r.output)} >= {"executed"}
    r = runner.invoke(app, ["rules", "undo", "--rule", "cut-bids-cpa-2x-campaign",
                            "--workspace", str(ws), "--json"])  # fmt: skip
    assert sorted(json.loads(r.output)["undone"]) == sorted(ids)
    # --all runs the saved rules; the same date again does nothing new
    r = runner.invoke(app, ["rules", "run", "--all", *base])
    assert r.exit_code == 0 and json.loads(r.output) == []
    r = runner.invoke(app, ["rules", "backtest", rule, "--workspace", str(ws), "--end",
                            AS_OF.isoformat(), "--days", "3", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert all(row["rule_id"] == "cut-bids-cpa-2x-campaign" for row in json.loads(r.output))
