"""Runs in the workspace's store, the workspace input frame and the MMM service: one shared small
fit (see shared_run.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from spendlab.data.ingest import ingest_frames
from spendlab.errors import ConfigError, DataError, NotFittedError, NotFoundError
from spendlab.measure.mmm import service
from spendlab.measure.mmm import store as runs
from spendlab.measure.mmm.workspace import build_input
from spendlab.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from shared_run import CONTROLS, copy_workspace, fitted_workspace


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return fitted_workspace(tmp_path_factory)


def test_cli_fit_is_indexed_and_reloads_without_refitting(shared):
    ws_path, payload = shared
    ws = Workspace.open(ws_path)
    assert ws.store_url == f"sqlite:///{ws.path / 'app.db'}"  # the workspace's own store
    listed = service.list_runs(ws)
    assert [r["id"] for r in listed] == [payload["run_id"]]
    run = service.get_run(ws, payload["run_id"])
    assert run["status"] == "succeeded" and run["source"] == "workspace"
    assert run["workspace"] == ws.id  # keyed by the stable id, not the folder
    assert run["path"] == f"mmm/runs/{run['id']}"  # relative: the workspace can move
    assert run["config"]["controls"] == list(CONTROLS) and run["config"]["fast"] is True
    assert run["summary"]["channels"].keys() == payload["channels"].keys()
    model = service.load_model(ws, run["id"])
    assert model.prep_.data_hash == run["data_hash"]
    s = model.summary().set_index("channel")
    for ch, r in run["summary"]["channels"].items():  # the same numbers, no refit
        assert s.loc[ch, "iroas_mean"] == pytest.approx(r["iroas"]["mean"], rel=1e-9)
        assert s.loc[ch, "iroas_lo"] == pytest.approx(r["iroas"]["lo"], rel=1e-9)


def test_workspace_frame_matches_the_warehouse(shared):
    ws, payload = shared
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    try:
        spend = dict(
            con.execute(
                "select platform, sum(spend) from ad_performance group by platform"
            ).fetchall()
        )
        rev = con.execute("select sum(value) from outcomes where kpi = 'revenue'").fetchone()[0]
        price = con.execute("select avg(value) from controls where name = 'price'").fetchone()[0]
    finally:
        con.close()  # fmt: skip
    with Workspace.open(ws).warehouse(read_only=True) as wh:
        daily = build_input(wh, controls=list(CONTROLS))
        weekly = build_input(wh, frequency="weekly", controls=["price"])
    assert daily.frequency == "daily" and daily.target == "revenue"
    assert set(daily.channels) == set(spend) == set(payload["channels"])
    f = daily.frame
    assert len(f) == 70 and f["date"].diff().dropna().dt.days.eq(1).all()
    for ch, total in spend.items():  # every campaign counted once, at one level
        assert f[ch].sum() == pytest.approx(total, rel=1e-9)
    assert f["revenue"].sum() == pytest.approx(rev, rel=1e-9)
    assert f["price"].mean() == pytest.approx(price, rel=1e-9)
    w = weekly.frame  # weeks start on Monday; only complete weeks
    assert (w["date"].dt.dayofweek == 0).all() and len(w) == 10
    end = w["date"].max() + pd.Timedelta(7, "D")
    inside = f[(f["date"] >= w["date"].min()) & (f["date"] < end)]
    assert w["revenue"].sum() == pytest.approx(inside["revenue"].sum(), rel=1e-9)
    assert w["meta"].sum() == pytest.approx(inside["meta"].sum(), rel=1e-9)


def _ad_rows(level: str, spend: float, days: pd.DatetimeIndex, **ids) -> pd.DataFrame:
    return pd.DataFrame({"date": days, "platform": ids.pop("platform", "google_ads"),
                         "level": level, "currency": "USD", "spend": spend, **ids})  # fmt: skip


def test_levels_are_counted_once_and_errors_say_what_to_do(workspace):
    wh = workspace
    days = pd.date_range("2024-01-01", periods=21, freq="D")
    with pytest.raises(DataError, match="'outcomes' table is empty"):
        build_input(wh)
    rng = np.random.default_rng(0)
    outcomes = pd.DataFrame({"date": days, "kpi": "sales", "value": 100 + rng.random(21)})
    ad = pd.concat([
        # one campaign reported per account, per campaign and per keyword: count it once
        _ad_rows("campaign", 10.0, days, account_id="a1", campaign_id="c1"),
        _ad_rows("keyword", 5.0, days, account_id="a1", campaign_id="c1", ad_group_id="g",
                 keyword_id="k1"),
        _ad_rows("keyword", 5.0, days, account_id="a1", campaign_id="c1", ad_group_id="g",
                 keyword_id="k2"),
        _ad_rows("account", 10.0, days, account_id="a1"),
        _ad_rows("account", 7.0, days, account_id="a2", platform="meta"),  # only account rows
    ])  # fmt: skip
    ingest_frames(wh, {"outcomes": outcomes, "ad_performance": ad})
    with pytest.raises(ConfigError, match=r"no 'revenue' or 'conversions' KPI.*\['sales'\]"):
        build_input(wh)
    inp = build_input(wh, kpi="sales")
    assert inp.channels == ("google_ads", "meta") and inp.controls == ()
    assert (inp.frame["google_ads"] == 10.0).all() and (inp.frame["meta"] == 7.0).all()
    merged = build_input(wh, kpi="sales", channel_map={"google_ads": "paid", "meta": "paid"})
    assert merged.channels == ("paid",) and (merged.frame["paid"] == 17.0).all()
    with pytest.raises(ConfigError, match="channel.*'tv'.*not found"):
        build_input(wh, kpi="sales", channels=["tv"])
    with pytest.raises(ConfigError, match="channel_by 'spend'"):
        build_input(wh, kpi="sales", channel_by="spend")
    with pytest.raises(ConfigError, match="a daily model needs daily outcomes"):
        weekly = outcomes.iloc[::7].assign(kpi="weekly_sales")
        ingest_frames(wh, {"outcomes": weekly})
        build_input(wh, kpi="weekly_sales", frequency="daily")
    w = build_input(wh, kpi="weekly_sales")  # weekly outcomes: weeks start on their dates
    assert w.frequency == "weekly" and list(w.frame["date"]) == list(days[::7])
    assert (w.frame["google_ads"] == 70.0).all()
    gap = outcomes.drop(index=[5]).assign(kpi="gappy")
    ingest_frames(wh, {"outcomes": gap})
    with pytest.raises(DataError, match="no 'gappy' value for 1 day.*first 2024-01-06"):
        build_input(wh, kpi="gappy")


def test_run_index_lifecycle(shared, tmp_path):
    ws_src, payload = shared
    ws = Workspace.open(copy_workspace(ws_src, tmp_path / "ws"))  # a copy without its store
    assert runs.latest_run(ws) is None and service.list_runs(ws) == []
    rid = runs.start_run(ws, {"target": "revenue", "channels": ["meta"]}, user="ana")
    assert service.get_run(ws, rid)["status"] == "running"
    with pytest.raises(NotFittedError, match="running"):
        service.load_model(ws, rid)
    runs.fail_run(ws, rid, "DataError: no spend")
    failed = service.get_run(ws, rid)
    assert failed["status"] == "failed" and failed["error"] == "DataError: no spend"
    # a folder saved earlier is indexed without refitting (summary given: no recompute)
    folder = ws.run_folder(payload["run_id"])
    run = runs.register_run(ws, folder, payload)
    assert run["status"] == "succeeded" and run["data_hash"]
    assert service.latest_run(ws)["id"] == run["id"]
    assert [r["status"] for r in service.list_runs(ws)] == ["succeeded", "failed"]
    assert [r["id"] for r in service.list_runs(ws, "failed")] == [rid]
    with pytest.raises(ConfigError, match="status 'done' is unknown"):
        service.list_runs(ws, "done")
    other = Workspace.init(tmp_path / "elsewhere")  # another workspace sees none of them
    with pytest.raises(NotFoundError, match="no model run"):
        service.get_run(other, run["id"])
    with pytest.raises(ConfigError, match="not an MMM run folder"):
        runs.register_run(ws, tmp_path)


def test_reconcile_fails_the_runs_whose_job_died(shared, tmp_path):
    """A server that stopped mid-fit leaves runs ``running``: the ones whose job failed or is
    gone become failed with the reason; a live job's run and a CLI run (no job) stay."""
    ws_src, _ = shared
    ws = Workspace.open(copy_workspace(ws_src, tmp_path / "ws"))
    cfg = {"target": "revenue", "channels": ["meta"]}
    ids = {name: runs.start_run(ws, cfg) for name in ("dead", "gone", "live", "cli")}
    for name in ("dead", "gone", "live"):
        runs.set_job(ws, ids[name], f"job-{name}")
    jobs = {"job-dead": {"status": "failed", "error": "the server stopped"},
            "job-live": {"status": "running", "error": None}}  # fmt: skip

    def lookup(job_id: str):
        if job_id not in jobs:
            raise NotFoundError(f"no job {job_id!r}")
        return jobs[job_id]

    assert sorted(service.reconcile(ws, lookup)) == sorted([ids["dead"], ids["gone"]])
    got = {r["id"]: r for r in service.list_runs(ws, jobs=lookup)}
    assert got[ids["dead"]]["status"] == "failed" and got[ids["dead"]]["error"] == (
        "the server stopped"
    )
    assert got[ids["gone"]]["status"] == "failed" and "gone" in got[ids["gone"]]["error"]
    assert got[ids["live"]]["status"] == got[ids["cli"]]["status"] == "running"


def test_bad_input_fails_before_a_run_is_recorded(shared, tmp_path):
    ws_src, _ = shared
    ws = Workspace.open(copy_workspace(ws_src, tmp_path / "ws"))
    with pytest.raises(ConfigError, match="channel.*'tv'.*not found"):
        service.prepare_fit(ws, channels=["tv"])
    with pytest.raises(ConfigError, match=r"unknown fit option\(s\) \['target'\]"):
        service.prepare_fit(ws, target="profit")
    with pytest.raises(ConfigError, match="unknown fit option"):
        service.prepare_fit(ws, chainz=2)
    assert service.list_runs(ws) == []
    plan = service.prepare_fit(ws, controls=["price"], fast=True, channel_map={"meta": "social"})
    assert plan.config.fast and plan.config.controls == ("price",)
    assert "social" in plan.config.channels and "social" in plan.members
    assert plan.request["channel_map"] == {"meta": "social"} and plan.request["fast"] is True
    # the warehouse was released: a writer can open it right away
    with ws.warehouse(read_only=False):
        pass


def test_a_workspace_fit_becomes_the_active_curve_set(shared):
    """Planning consumes fitted curves through one interface: the CLI fit published its
    response curves (posterior draws) as the workspace's active curve set, with each channel's
    campaigns so current spend comes from the warehouse."""
    from spendlab.plan.curvesets import current_spend, load_curve_set

    ws_path, payload = shared
    ws = Workspace.open(ws_path)
    assert payload["curve_set"]["name"] == f"MMM run {payload['run_id']}"
    cs = load_curve_set(ws.store.engine, ws.id)
    assert cs.id == payload["curve_set"]["id"] and "curve_set_error" not in payload
    model = service.load_model(ws, payload["run_id"])
    assert cs.source == "mmm" and cs.period == "day" and set(cs.ids) == set(payload["channels"])
    params = model.response_curve_params()
    crv = cs.curves()
    got = crv.response(np.full(crv.n, 50.0))  # (draws, entities)
    for j, ch in enumerate(crv.ids):
        p = params[params["channel"] == ch].iloc[0]
        want = p["beta"] * 50.0 ** p["s"] / (50.0 ** p["s"] + p["half"] ** p["s"])
        assert got[0, j] == pytest.approx(want, rel=1e-6)  # float32 posterior draws
    with ws.warehouse(read_only=True) as wh:
        cur = current_spend(wh, cs).set_index("id")
    assert (cur["source"] == "warehouse").all() and (cur["current"] > 0).all()
