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
    # no ad_performance rows: zero spend, so CPA 0 and ROAS undefined (null)
    assert ch["email"]["spend"] == 0 and ch["email"]["cpa"] == 0 and ch["email"]["roas"] is None
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


def strict(text):
    """JSON with inf/NaN rejected (the CLI must send null instead)."""

    def refuse(token):
        raise AssertionError(f"non-strict JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def spend_file(tmp_path):
    f = tmp_path / "spend.csv"
    f.write_text("channel,spend\na,10\nb,40\n")
    return f


def test_spend_file_adds_cpa_and_roas(path_file, spend_file, tmp_path):
    # markov on a > b (1 conversion, value 30) and b (1 null): a 1/3 (value 10), b 2/3 (20)
    r = invoke("attribution", "run", path_file, "--spend", spend_file, "--json")
    assert r.exit_code == 0, r.output
    out = strict(r.stdout)
    ch = {c["channel"]: c for c in out["channels"]}
    assert ch["a"]["spend"] == 10 and ch["a"]["cpa"] == pytest.approx(30.0)
    assert ch["b"]["cpa"] == pytest.approx(60.0) and ch["b"]["roas"] == pytest.approx(0.5)
    assert ch["a"]["roas"] == pytest.approx(1.0) and out["total_spend"] == 50
    # intervals: spend is known, so CPA bounds are spend over the conversion bounds
    r = invoke("attribution", "run", path_file, "-m", "linear", "--spend", spend_file,
               "--bootstrap", "30", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    for c in strict(r.stdout)["channels"]:
        assert c["cpa_lo"] == pytest.approx(c["spend"] / c["conversions_hi"])
        assert c["roas_lo"] == pytest.approx(c["value_lo"] / c["spend"])
        assert c["roas_lo"] <= c["roas"] <= c["roas_hi"]
    # a channel with spend and no credit: CPA is undefined -> null, never Infinity
    zero = tmp_path / "zero.csv"
    zero.write_text("path,conversions,nulls,value\na,1,0,5\nb,0,3,0\n")
    r = invoke("attribution", "run", zero, "-m", "last_touch", "--spend", spend_file, "--json")
    ch = {c["channel"]: c for c in strict(r.stdout)["channels"]}
    assert ch["b"]["cpa"] is None and ch["b"]["roas"] == 0 and ch["a"]["cpa"] == 10
    r = invoke("attribution", "run", path_file, "--spend", spend_file, "--bootstrap", "20")
    assert r.exit_code == 0, r.output
    assert "CPA interval" in r.stdout and "ROAS" in r.stdout


def test_lift_and_iroas_calibration_move_credit_to_the_baseline(path_file, spend_file):
    # linear: a and b get 0.5 conversions (15 value) each
    r = invoke("attribution", "run", path_file, "-m", "linear", "--lift", "b=0.2", "--json")
    assert r.exit_code == 0, r.output
    out = strict(r.stdout)
    ch = {c["channel"]: c for c in out["channels"]}
    assert out["calibrated"] is True
    assert ch["b"]["conversions"] == pytest.approx(0.2) and ch["b"]["factor"] == pytest.approx(0.4)
    assert ch["a"]["conversions"] == pytest.approx(0.5)
    assert ch["(baseline)"]["conversions"] == pytest.approx(0.3)
    assert sum(c["share"] for c in ch.values()) == pytest.approx(1.0)
    # iROAS 0.25 on 40 spend = 10 incremental value of b's credited 15: keeps 2/3
    r = invoke("attribution", "run", path_file, "-m", "linear", "--iroas", "b=0.25",
               "--spend", spend_file, "--json")  # fmt: skip
    ch = {c["channel"]: c for c in strict(r.stdout)["channels"]}
    assert ch["b"]["value"] == pytest.approx(10.0) and ch["b"]["roas"] == pytest.approx(0.25)
    assert ch["(baseline)"]["value"] == pytest.approx(5.0)
    assert ch["(baseline)"]["spend"] is None and ch["(baseline)"]["cpa"] is None
    r = invoke("attribution", "run", path_file, "--lift", "b=0", "--spend", spend_file)
    assert r.exit_code == 0, r.output
    assert "(baseline)" in r.stdout and "kept" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lift", "b"], "is not CHANNEL=INCREMENTAL_CONVERSIONS"),
        (["--lift", "=3"], "is not CHANNEL="),
        (["--lift", "b=many"], "'many' is not a number"),
        (["--lift", "b=-1"], "finite number >= 0"),
        (["--iroas", "b=nan", "--spend", "SPEND"], "finite number >= 0"),
        (["--lift", "b=1", "--lift", "b=2"], "names 'b' twice"),
        (["--lift", "zz=1"], "'zz' not in the journeys; channels are: a, b"),
        (["--iroas", "b=1"], "--iroas needs spend"),
        (["--lift", "b=1", "--iroas", "b=1", "--spend", "SPEND"], "both a lift test and an iROAS"),
    ],
)
def test_bad_calibration_options_are_config_errors(path_file, spend_file, args, message):
    args = [spend_file if a == "SPEND" else a for a in args]
    r = invoke("attribution", "run", path_file, *args, "--json")
    assert r.exit_code == exit_codes.CONFIG, r.output
    assert message in json.loads(r.stdout)["error"]["message"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("channel,spend\na,10\nfacebok,3\n", "line 3, column 'channel': 'facebok' is not in"),
        ("channel,cost\na,10\n", "missing column(s) spend"),
        ("channel,spend\na,-5\n", "line 2, column 'spend': '-5' is not an amount"),
        ("channel,spend\na,\n", "line 2, column 'spend'"),
        ("channel,spend\na,1\na,2\n", "'a' appears twice"),
    ],
)
def test_bad_spend_files_are_rejected_with_the_line(tmp_path, path_file, content, message):
    f = tmp_path / "s.csv"
    f.write_text(content)
    r = invoke("attribution", "run", path_file, "--spend", f, "--json")
    assert r.exit_code == exit_codes.DATA_REJECTED, r.output
    assert message in json.loads(r.stdout)["error"]["message"]
