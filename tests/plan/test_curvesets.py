"""Curve sets and saved scenarios in the store (SQLite; PostgreSQL through the app store tests'
migrations), current spend from a warehouse, the simulator's truth as curves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from spendlab.errors import ConfigError, DataError, NotFoundError
from spendlab.plan import store
from spendlab.plan.curvesets import (
    activate_curve_set,
    current_spend,
    list_curve_sets,
    load_curve_set,
    save_curve_set,
    truth_frames,
)
from spendlab.plan.scenarios import (
    build_scenario,
    delete_scenario,
    get_scenario,
    list_scenarios,
    save_scenario,
)

MMM_LIKE = pd.DataFrame(
    {
        "channel": ["tv", "tv", "search", "search"],
        "draw": [0, 1, 0, 1],
        "type": ["hill", "hill", "logistic", "logistic"],
        "beta": [500.0, 520.0, 300.0, 310.0],
        "half": [400.0, 410.0, np.nan, np.nan],
        "s": [1.0, 1.1, np.nan, np.nan],
        "lam": [np.nan, np.nan, 0.004, 0.0041],
    }
)


@pytest.fixture
def engine(tmp_path):
    eng = create_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    store.create_all(eng)
    yield eng
    eng.dispose()


def test_curve_set_round_trip_and_active_is_newest(engine) -> None:
    a = save_curve_set(engine, "/ws", "mmm week 1", MMM_LIKE, "week", "mmm", {"run_id": "r1"})
    assert a.active and a.period == "week" and a.curves().draws == 2
    loaded = load_curve_set(engine, "/ws")
    x = np.array([300.0, 200.0])
    assert np.array_equal(loaded.curves().response(x), a.curves().response(x))
    assert loaded.meta == {"run_id": "r1"}
    b = save_curve_set(engine, "/ws", "manual", MMM_LIKE[MMM_LIKE["draw"] == 0].drop(
        columns="draw"), "week", "manual")  # fmt: skip
    assert load_curve_set(engine, "/ws").id == b.id
    assert [r["active"] for r in list_curve_sets(engine, "/ws")] == [True, False]
    activate_curve_set(engine, "/ws", "mmm week 1")
    assert load_curve_set(engine, "/ws").id == a.id
    assert list_curve_sets(engine, "/other") == []
    with pytest.raises(NotFoundError, match="no curve set yet"):
        load_curve_set(engine, "/other")


@pytest.mark.parametrize(
    ("frame", "kw", "err", "match"),
    [
        (MMM_LIKE, {"period": "month"}, ConfigError, "period"),
        (MMM_LIKE, {"source": "guess"}, ConfigError, "source"),
        (MMM_LIKE.drop(columns="channel"), {}, DataError, "entity column"),
        (MMM_LIKE.assign(type="cubic"), {}, DataError, "unknown curve type"),
        (MMM_LIKE.iloc[:3], {}, DataError, "same posterior draws"),
        (MMM_LIKE, {"meta": {"members": {"radio": ["1"]}}}, ConfigError, "unknown entities"),
    ],
)
def test_bad_curve_sets_are_refused(engine, frame, kw, err, match) -> None:
    with pytest.raises(err, match=match):
        save_curve_set(engine, "/ws", "bad", frame, **{"period": "day", **kw})


def test_scenario_round_trip(engine) -> None:
    cs = save_curve_set(engine, "/ws", "c", MMM_LIKE, "week", "mmm")
    sc = build_scenario(cs, {"tv": 300.0, "search": 200.0}, "tv down",
                        operations=["scale tv by -20%"])  # fmt: skip
    saved = save_scenario(engine, "/ws", sc, {"operations": ["scale tv by -20%"]}, "ana")
    got = get_scenario(engine, saved["id"])
    assert got["name"] == "tv down" and got["author"] == "ana"
    assert got["predicted"] == json.loads(json.dumps(sc["predicted"]))
    assert got["spec"] == {"operations": ["scale tv by -20%"]}
    assert got["curve_set_id"] == cs.id
    assert [s["id"] for s in list_scenarios(engine, "/ws")] == [saved["id"]]
    with pytest.raises(NotFoundError):
        get_scenario(engine, saved["id"], "/elsewhere")
    delete_scenario(engine, "/ws", saved["id"])
    assert list_scenarios(engine, "/ws") == []


def test_current_spend_reads_the_last_28_days(tmp_path) -> None:
    import datetime as dt

    from spendlab.data.ingest import ingest_frames
    from spendlab.data.warehouse import Warehouse

    days = pd.date_range("2024-01-01", periods=40, freq="D").date
    rows = []
    for k, d in enumerate(days):
        rows.append({"date": d, "platform": "google_ads", "level": "campaign",
                     "campaign_id": "c1", "spend": 10.0 + k, "currency": "USD"})  # fmt: skip
        rows.append({"date": d, "platform": "google_ads", "level": "campaign",
                     "campaign_id": "c2", "spend": 5.0, "currency": "USD"})  # fmt: skip
    ap = pd.DataFrame(rows)
    with Warehouse.init(tmp_path / "ws", currency="USD") as wh:
        ingest_frames(wh, {"ad_performance": ap})
        frame = pd.DataFrame({"id": ["search", "social"], "type": "exponential",
                              "beta": [1.0, 1.0], "scale": [1.0, 1.0],
                              "current": [np.nan, 42.0]})  # fmt: skip
        eng = create_engine("sqlite://")
        store.create_all(eng)
        cs = save_curve_set(eng, "/ws", "c", frame, "week", "manual",
                            {"members": {"search": ["c1", "c2"]}})  # fmt: skip
        cur = current_spend(wh, cs)
    last28 = [10.0 + k for k in range(12, 40)]
    expect = (np.mean(last28) + 5.0) * 7
    assert cur.loc[0, "current"] == pytest.approx(expect)
    assert cur["source"].tolist() == ["warehouse", "curve set"]
    assert cur.loc[1, "current"] == 42.0
    assert cur.attrs["window"] == (str(days[12]), str(days[-1]))
    assert dt.date.fromisoformat(cur.attrs["window"][1]) == days[-1]


def test_simulator_truth_gives_exact_campaign_curves_and_fitted_channels() -> None:
    from spendlab.simulate import SimConfig, simulate

    m = simulate(SimConfig(seed=3, days=60, campaigns=8, users=200, customers=100))
    truth = json.loads(json.dumps(m.truth))
    sets = truth_frames(truth)
    camp, meta = sets["campaigns"]
    cs_frame = camp.rename(columns={"id": "channel"})
    from spendlab.plan.curves import curves_from_frame

    curves = curves_from_frame(cs_frame)
    params = m.catalog.params
    x = np.array([truth["campaigns"][i]["mean_daily_spend"] for i in curves.ids])
    ref = params.beta * params.saturated(x)
    order = list(m.catalog.table["campaign_id"])
    assert np.allclose(curves.response(x), ref[[order.index(i) for i in curves.ids]], rtol=1e-12)
    ch, ch_meta = sets["channels"]
    assert set(ch["id"]) == set(truth["media_channels"])
    assert max(ch_meta["fit_max_error"].values()) < 0.05
    assert sum(len(v) for v in ch_meta["members"].values()) == len(truth["campaigns"])


def test_a_set_stored_without_activating_leaves_the_active_one(engine) -> None:
    """``activate=False`` (an MMM fit that failed its gate): stored, listed, not active."""
    with pytest.raises(NotFoundError, match="no curve set yet"):
        load_curve_set(engine, "/ws")
    held = save_curve_set(engine, "/ws", "held", MMM_LIKE, "week", "mmm", activate=False)
    assert not held.active
    with pytest.raises(NotFoundError, match="has curve sets but none is active"):
        load_curve_set(engine, "/ws")
    a = save_curve_set(engine, "/ws", "a", MMM_LIKE, "week", "manual")
    later = save_curve_set(engine, "/ws", "later", MMM_LIKE, "week", "mmm", activate=False)
    assert load_curve_set(engine, "/ws").id == a.id
    assert [(r["name"], r["active"]) for r in list_curve_sets(engine, "/ws")] == [
        ("later", False),
        ("a", True),
        ("held", False),
    ]
    assert activate_curve_set(engine, "/ws", later.id).active  # no gate in its meta: allowed
    assert load_curve_set(engine, "/ws").id == later.id
