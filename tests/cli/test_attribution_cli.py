"""spendlab attribution run/compare: JSON shape, exit codes, path file and workspace inputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from spendlab.cli import exit_codes
from spendlab.cli.main import app
from spendlab.data.ingest import ingest_frames
from spendlab.data.warehouse import Warehouse

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def path_file(tmp_path):
    f = tmp_path / "paths.csv"
    f.write_text("path,conversions,nulls,value\na > b,1,0,30\nb,0,1,0\n")
    return f


def test_markov_json_has_removal_effects(path_file):
    r = invoke("attribution", "run", path_file, "--model", "markov", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    ch = {c["channel"]: c for c in out["channels"]}
    assert ch["a"]["removal_effect"] == pytest.approx(0.5)
    assert ch["b"]["conversions"] == pytest.approx(2 / 3)
    assert ch["b"]["value"] == pytest.approx(20.0)
    assert ch["a"]["share"] + ch["b"]["share"] == pytest.approx(1.0)


def test_bootstrap_adds_intervals(path_file):
    r = invoke("attribution", "run", path_file, "-m", "linear", "--bootstrap", "50", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["interval_level"] == 0.9
    row = out["channels"][0]
    assert row["conversions_lo"] <= row["conversions"] <= row["conversions_hi"]


def test_errors_map_to_exit_codes(tmp_path, path_file):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,conversions,nulls\na>b,1,0\n")
    r = invoke("attribution", "run", bad, "--json")
    assert r.exit_code == exit_codes.DATA_REJECTED
    assert "separator" in json.loads(r.stdout)["error"]["message"]
    r = invoke("attribution", "run", path_file, "--model", "magic", "--json")
    assert r.exit_code == exit_codes.CONFIG
    assert "unknown attribution model" in json.loads(r.stdout)["error"]["message"]


def test_ordered_shapley_and_days_half_life_on_a_path_table(path_file):
    r = invoke("attribution", "run", path_file, "-m", "shapley_ordered", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    pos = {(p["channel"], p["position"]): p["conversions"] for p in out["positions"]}
    assert pos == {("a", 1): 0.5, ("b", 2): 0.5, ("b", 1): 0.0}  # b > null: no weight
    r = invoke("attribution", "run", path_file, "-m", "time_decay", "--half-life-days", "7",
               "--json")  # fmt: skip
    assert r.exit_code == exit_codes.CONFIG
    assert "path table has none" in json.loads(r.stdout)["error"]["message"]
    r = invoke("attribution", "run", path_file, "-m", "time_decay", "--half-life", "1", "--json")
    ch = {c["channel"]: c["conversions"] for c in json.loads(r.stdout)["channels"]}
    assert ch == pytest.approx({"a": 1 / 3, "b": 2 / 3})


@pytest.mark.slow
def test_workspace_journeys_and_compare(tmp_path):
    ws = tmp_path / "ws"
    assert invoke("init", ws, "--json").exit_code == 0
    t = pd.Timestamp("2024-03-01 12:00")
    h = pd.Timedelta(hours=1)
    tp = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u3"],
            "timestamp": [t, t + h, t, t],
            "channel": ["paid_search", "email", "email", "paid_social"],
            "interaction_type": "click",
        }
    )
    cv = pd.DataFrame(
        {"user_id": ["u1", "u2"], "timestamp": [t + 2 * h, t + h], "value": [50.0, 20.0],
         "currency": "USD"}
    )  # fmt: skip
    with Warehouse.open(ws) as wh:
        ingest_frames(wh, {"touchpoints": tp, "conversions": cv})
    r = invoke("attribution", "run", "--workspace", ws, "-m", "last_touch", "--json")
    assert r.exit_code == 0, r.output
    ch = {c["channel"]: c for c in json.loads(r.stdout)["channels"]}
    assert ch["email"]["conversions"] == 2 and ch["email"]["value"] == 70.0
    # u1: paid_search 2 h and email 1 h before the conversion; half-life 1 h = 1/24 day
    r = invoke("attribution", "run", "--workspace", ws, "-m", "time_decay",
               "--half-life-days", 1 / 24, "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    ch = {c["channel"]: c for c in json.loads(r.stdout)["channels"]}
    assert ch["paid_search"]["conversions"] == pytest.approx(1 / 3)
    assert ch["email"]["value"] == pytest.approx(20 + 50 * 2 / 3)
    r = invoke("attribution", "compare", "--workspace", ws, "--json")
    assert r.exit_code == 0, r.output
    rows = pd.DataFrame(json.loads(r.stdout))
    first = rows[(rows.model == "first_touch") & (rows.channel == "paid_search")].iloc[0]
    assert first["conversions"] == 1 and first["vs_last_touch"] == 1
