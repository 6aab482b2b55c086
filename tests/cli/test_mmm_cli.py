"""`spendlab mmm fit --fast --json --out RUN` then `spendlab mmm report RUN --out FILE.png`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spendlab.cli.main import app

sys.path.insert(0, str(Path(__file__).parents[1] / "measure" / "mmm"))
from conftest import make_weekly


@pytest.mark.slow
def test_fit_json_then_report(tmp_path):
    df, truth = make_weekly(0)
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    runner = CliRunner()
    res = runner.invoke(app, ["mmm", "fit", str(csv), "--date", "date", "--target", "sales",
                              "--channel", "search", "--channel", "social", "--control", "price",
                              "--fast", "--draws", "200", "--out", str(tmp_path / "run"),
                              "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    search = payload["channels"]["search"]
    assert set(search["iroas"]) == {"mean", "lo", "hi"} and set(search["mroas"]) == {
        "mean",
        "lo",
        "hi",
    }
    assert abs(search["iroas"]["mean"] / truth["search"] - 1) < 0.15
    assert set(payload["diagnostics"]) >= {"rhat_max", "ess_bulk_min", "divergences"}
    assert payload["fit_seconds"] > 0
    png = tmp_path / "report.png"
    res = runner.invoke(app, ["mmm", "report", str(tmp_path / "run"), "--out", str(png), "--json"])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_event_column_and_baseline_form_reach_the_model(tmp_path):
    """`--event COL` adds an event effect that the fit then recovers (a planted +300 week),
    `--baseline additive` is stored in the run's config; an unknown form is a config error."""
    df, _ = make_weekly(0)
    df["promo_week"] = 0.0
    df.loc[[30, 90, 140], "promo_week"] = 1.0
    df["sales"] = df["sales"] + 300.0 * df["promo_week"]
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    base = ["mmm", "fit", str(csv), "--date", "date", "--target", "sales", "--channel", "search",
            "--channel", "social", "--control", "price", "--fast", "--draws", "100",
            "--yearly-order", "1", "--json"]  # fmt: skip
    runner = CliRunner()
    res = runner.invoke(app, [*base, "--event", "promo_week", "--baseline", "additive",
                              "--out", str(tmp_path / "run")])  # fmt: skip
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["events"] == ["promo_week"] and cfg["baseline"] == "additive"
    from spendlab.measure.mmm import MMM

    m = MMM.load(tmp_path / "run")
    effect = float(m.samples_["events"].mean()) * m.prep_.y_scale  # additive: target units
    assert effect == pytest.approx(300.0, rel=0.35)
    bad = runner.invoke(app, [*base, "--baseline", "log"])
    assert bad.exit_code == 5, bad.output
    assert "baseline 'log' is unknown" in json.loads(bad.stdout)["error"]["message"]


def test_bad_channel_exits_with_config_code(tmp_path):
    df, _ = make_weekly(0)
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    res = CliRunner().invoke(app, ["mmm", "fit", str(csv), "--target", "sales",
                                   "--channel", "tv", "--json"])  # fmt: skip
    assert res.exit_code == 5
    assert "not in the data" in json.loads(res.stdout)["error"]["message"]


def test_workspace_fit_is_saved_indexed_and_reported_by_run_id(tmp_path, tmp_path_factory):
    """`mmm fit --workspace WS` (no --table) builds the frame from the canonical tables; the
    run lands in WS/mmm/runs/<id> and in the store; `mmm runs` lists it; `mmm report ID`."""
    from shared_run import fitted_workspace

    ws, payload = fitted_workspace(tmp_path_factory)  # the shared fit ran this command
    assert payload["input"]["frequency"] == "daily" and payload["input"]["periods"] == 70
    assert set(payload["channels"]) == {"google_ads", "meta", "microsoft"}
    assert Path(payload["run"]) == ws.resolve() / "mmm" / "runs" / payload["run_id"]
    # a fast fit fails its gate; the shared fit passed --activate, which is recorded
    assert payload["gate"]["passed"] is False and payload["activated"] and payload["forced"]
    runner = CliRunner()
    res = runner.invoke(app, ["mmm", "runs", "--workspace", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    assert [r["id"] for r in listed] == [payload["run_id"]] and listed[0]["status"] == "succeeded"
    pdf = tmp_path / "report.pdf"
    res = runner.invoke(app, ["mmm", "report", payload["run_id"], "--workspace", str(ws),
                              "--out", str(pdf), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert pdf.read_bytes()[:5] == b"%PDF-"
    res = runner.invoke(app, ["mmm", "report", "nope", "--workspace", str(ws), "--out",
                              str(pdf), "--json"])  # fmt: skip
    assert res.exit_code != 0 and "no model run 'nope'" in res.stdout


def test_workspace_fit_with_bad_kpi_says_which_exist(tmp_path_factory):
    from shared_run import fitted_workspace

    ws, _ = fitted_workspace(tmp_path_factory)
    res = CliRunner().invoke(app, ["mmm", "fit", "--workspace", str(ws), "--target", "profit",
                                   "--fast", "--json"])  # fmt: skip
    assert res.exit_code == 5
    assert "KPI 'profit' is not in the outcomes table" in json.loads(res.stdout)["error"]["message"]


def test_workspace_fit_that_fails_the_gate_says_why_and_keeps_the_active_set(
    tmp_path, tmp_path_factory
):
    """Without --activate a fit that fails its gate is stored, not activated; the output lists
    the failed checks and what to do; `plan curves activate ID` refuses it without --force."""
    from shared_run import FIT_ARGS, copy_workspace, fitted_workspace

    src, payload = fitted_workspace(tmp_path_factory)
    ws = copy_workspace(src, tmp_path / "ws", with_store=True)
    args = [a for a in FIT_ARGS if a != "--activate"]
    runner = CliRunner()
    res = runner.invoke(app, ["mmm", "fit", "--workspace", str(ws), *args])
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "Gate: FAIL" in text and "FAIL inference = laplace (bound nuts)" in text
    assert "stored, NOT activated" in text and "--activate" in text
    res = runner.invoke(app, ["plan", "curves", "list", "--workspace", str(ws), "--json"])
    sets = json.loads(res.stdout)
    assert [s["active"] for s in sets] == [False, True]  # the earlier (forced) set stays active
    assert sets[1]["id"] == payload["curve_set"]["id"]
    new = str(sets[0]["id"])
    res = runner.invoke(app, ["plan", "curves", "activate", new, "--workspace", str(ws), "--json"])
    assert res.exit_code != 0 and "failed its model gate" in res.stdout
    res = runner.invoke(
        app, ["plan", "curves", "activate", new, "--force", "--workspace", str(ws), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["active"] is True
