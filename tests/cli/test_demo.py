"""The demo end to end: simulate, write platform files, ingest each through its real reader."""

import json

import pytest
from typer.testing import CliRunner

from spendlab.cli.main import app
from spendlab.cli.simulate import build_demo
from spendlab.data.warehouse import Warehouse
from spendlab.errors import WorkspaceError
from spendlab.simulate import SimConfig, simulate

SMALL = {"days": 60, "campaigns": 8, "users": 1500, "customers": 300}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    ws = tmp_path_factory.mktemp("demo") / "ws"
    result = build_demo(ws, seed=3, quiet=True, **SMALL)
    return ws, result


def test_every_file_loads_through_its_reader_with_nothing_rejected(demo):
    _, result = demo
    sources = {entry["source"] for entry in result["loads"]}
    assert {"google_ads_ui", "meta", "microsoft", "ga4", "crm_orders", "generic"} <= sources
    for entry in result["loads"]:
        assert entry["rejected"] == 0, entry
        assert entry["read"] > 0, entry
        assert entry["added"] + entry["replaced"] + entry["unchanged"] == entry["read"], entry


def test_warehouse_holds_exactly_what_the_simulator_generated(demo):
    ws, _ = demo
    market = simulate(SimConfig(seed=3, **SMALL))
    perf = market.frames["ad_performance"]
    with Warehouse.open(ws, read_only=True) as wh:
        t = wh.table("ad_performance")
        got = t.aggregate(n=t.count(), spend=t.spend.sum(), clicks=t.clicks.sum()).to_pandas()
        assert int(got.n[0]) == len(perf)
        assert float(got.spend[0]) == pytest.approx(float(perf.spend.sum()), rel=1e-9)
        assert int(got.clicks[0]) == int(perf.clicks.sum())
        out = wh.table("outcomes")
        truth = market.frames["outcomes"]
        assert out.count().execute() == len(truth)
        assert float(out.value.sum().execute()) == pytest.approx(float(truth.value.sum()), rel=1e-9)
        assert wh.table("orders").count().execute() == len(market.frames["orders"])


def test_truth_file_is_written_beside_the_raw_files(demo):
    ws, result = demo
    truth = json.loads((ws / "raw" / "truth.json").read_text())
    assert truth["channels"] and result["truth"].endswith("truth.json")


def test_rebuilding_needs_force_and_never_deletes_a_foreign_folder(demo, tmp_path):
    ws, _ = demo
    with pytest.raises(WorkspaceError, match="--force"):
        build_demo(ws, seed=3, quiet=True, **SMALL)
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"x")
    with pytest.raises(WorkspaceError, match="not a SpendLab workspace"):
        build_demo(foreign, seed=3, force=True, quiet=True, **SMALL)
    assert (foreign / "cat.jpg").exists()


def test_cli_demo_json(tmp_path, monkeypatch):
    monkeypatch.setenv("SPENDLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SPENDLAB_STORE_URL", raising=False)
    r = CliRunner().invoke(
        app,
        [
            "demo",
            "--workspace",
            str(tmp_path / "d"),
            "--no-serve",
            "--days",
            "40",
            "--campaigns",
            "6",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert {t["name"] for t in payload["tables"] if t["rows"]} >= {
        "ad_performance",
        "outcomes",
        "touchpoints",
        "conversions",
        "orders",
    }
    # the demo admin it prints can sign in to the store the demo made
    from spendlab.app.auth import authenticate
    from spendlab.app.store import open_store

    store = open_store(payload["store_url"])
    try:
        admin = payload["admin"]
        user = authenticate(store, admin["user"], admin["password"])
        assert user is not None and user.role == "admin"
    finally:
        store.close()
    assert payload["store_url"].startswith(f"sqlite:///{tmp_path / 'home'}")
    # the simulator's true curves are the active curve set: the Plan page works at once
    from spendlab.plan.curvesets import current_spend, load_curve_set
    from spendlab.workspace import Workspace

    assert [c["name"] for c in payload["curve_sets"]] == [
        "simulator truth (campaigns)",
        "simulator truth",
    ]
    ws = Workspace.open(tmp_path / "d")  # in the workspace's own store, keyed by its id
    cs = load_curve_set(ws.store.engine, ws.id)
    assert cs.name == "simulator truth" and cs.period == "day" and cs.source == "simulator"
    with Warehouse.open(tmp_path / "d", read_only=True) as wh:
        cur = current_spend(wh, cs)
    assert (cur["source"] == "warehouse").all() and cur["current"].sum() > 0
