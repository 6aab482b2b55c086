"""The CLI: --json output, exit codes (docs/cli.md), and that it calls the same functions."""

import json

import pandas as pd
from typer.testing import CliRunner

from spendlab.cli import exit_codes
from spendlab.cli.main import app
from spendlab.data.ingest import ingest_frames
from spendlab.data.warehouse import Warehouse

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_init_then_tables_json(tmp_path):
    ws = tmp_path / "ws"
    r = invoke("init", ws, "--currency", "EUR", "--json")
    assert r.exit_code == exit_codes.OK, r.output
    assert json.loads(r.stdout)["currency"] == "EUR"
    with Warehouse.open(ws) as wh:
        ingest_frames(
            wh,
            {
                "outcomes": pd.DataFrame(
                    {"date": ["2024-01-01", "2024-01-02"], "kpi": "revenue", "value": [1.0, 2.0]}
                )
            },
        )
    r = invoke("tables", "--workspace", ws, "--json")
    assert r.exit_code == 0
    rows = {t["name"]: t for t in json.loads(r.stdout)}
    assert rows["outcomes"] == {
        "name": "outcomes",
        "rows": 2,
        "first_date": "2024-01-01",
        "last_date": "2024-01-02",
    }
    r = invoke("loads", "--workspace", ws, "--json")
    assert json.loads(r.stdout)[0]["added"] == 2


def test_missing_workspace_exits_4_with_the_fix(tmp_path):
    r = invoke("tables", "--workspace", tmp_path / "nope", "--json")
    assert r.exit_code == exit_codes.WORKSPACE
    err = json.loads(r.stdout)["error"]
    assert err["type"] == "WorkspaceNotFoundError" and "spendlab init" in err["message"]


def test_bad_currency_exits_5(tmp_path):
    r = invoke("init", tmp_path / "ws", "--currency", "DOLLARS")
    assert r.exit_code == exit_codes.CONFIG
    assert "ISO 4217" in r.output


def test_malformed_option_exits_5(tmp_path):
    invoke("init", tmp_path / "ws")
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    r = invoke(
        "ingest",
        f,
        "--source",
        "generic",
        "--workspace",
        tmp_path / "ws",
        "--option",
        "novalue",
        "--json",
    )
    assert r.exit_code == exit_codes.CONFIG
    assert "KEY=VALUE" in json.loads(r.stdout)["error"]["message"]


def test_unknown_source_suggests_the_closest(tmp_path):
    invoke("init", tmp_path / "ws")
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    r = invoke("ingest", f, "--source", "googel_ads_ui", "--workspace", tmp_path / "ws")
    assert r.exit_code == exit_codes.CONFIG
    assert "did you mean 'google_ads_ui'" in r.output


def test_version():
    r = invoke("version")
    assert r.exit_code == 0 and r.stdout.strip()
