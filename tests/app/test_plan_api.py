"""Planning over REST: 409 until a curve set exists, then scenarios (create, get, list, compare,
delete), recommendations with pending rule actions, the frontier and the optimizer, with numbers
checked against the domain functions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from spendlab.automate import store as rules_store
from spendlab.core.actions import Action, ActionKind, ActionStatus, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.plan.constraints import Constraints
from spendlab.plan.curvesets import current_spend, load_curve_set, save_curve_set
from spendlab.plan.optimizer import optimize

from .conftest import login

PLAN = "/api/v1/workspaces/demo/plan"


@pytest.fixture
def planned(app_factory, demo_ws):
    """A server whose demo workspace has a two-entity curve set over its campaigns."""
    app = app_factory()
    state = app.state.spendlab
    with state.workspaces.warehouse("demo") as wh:
        t = wh.table("ad_performance")
        ids = sorted(t.filter(t.campaign_id != "").campaign_id.to_pandas().unique().tolist())
    half = len(ids) // 2
    frame = pd.DataFrame(
        {"channel": ["search", "social"], "type": ["hill", "logistic"], "beta": [900.0, 700.0],
         "half": [150.0, np.nan], "s": [0.9, np.nan], "lam": [np.nan, 0.006]}
    )  # fmt: skip
    members = {"search": ids[:half], "social": ids[half:]}
    ws = state.workspaces.handle("demo")  # curve sets live in the workspace's store
    save_curve_set(ws.store.engine, ws.id, "manual", frame, "day", "manual", {"members": members})
    with TestClient(app) as c:
        yield c, state, ws


def test_not_configured_without_curves(client):
    h = login(client, "ana")
    r = client.get("/api/get_recommendations", params={"workspace": "demo"}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_configured"
    assert "curve set" in r.json()["error"]["message"]
    r = client.post("/api/create_scenario", json={"workspace": "demo", "name": "x"}, headers=h)
    assert r.status_code == 409
    assert client.get(f"{PLAN}/curve-sets", headers=h).json() == {"items": []}


def test_scenario_life_cycle(planned):
    c, state, ws = planned
    ana, vic = login(c, "ana"), login(c, "vic")
    body = {
        "workspace": "demo",
        "name": "more social",
        "operations": [{"op": "shift", "from": "search", "to": "social", "pct": 20}],
    }
    r = c.post("/api/create_scenario", json=body, headers=ana)
    assert r.status_code == 201, r.text
    sc = r.json()
    cs = load_curve_set(ws.store.engine, ws.id)
    with state.workspaces.warehouse("demo") as wh:
        cur = current_spend(wh, cs).set_index("id")["current"]
    assert sc["current"]["search"] == pytest.approx(cur["search"], rel=1e-12)
    assert sc["allocation"]["search"] == pytest.approx(0.8 * cur["search"], rel=1e-12)
    x = np.array([sc["allocation"][i] for i in cs.curves().ids])
    assert sc["predicted"]["outcome"]["mean"] == pytest.approx(
        cs.curves().response(x).sum(), rel=1e-12
    )
    got = c.get(f"/api/get_scenario/{sc['id']}", headers=vic).json()
    assert got == c.get(f"{PLAN}/scenarios/{sc['id']}", headers=vic).json()
    assert got["predicted"] == sc["predicted"] and got["author"] == "ana"
    r2 = c.post(f"{PLAN}/scenarios", json={"name": "set", "allocation": {"social": 10.0}},
                headers=ana)  # fmt: skip
    assert r2.status_code == 201 and r2.json()["allocation"]["social"] == 10.0
    listed = c.get(f"{PLAN}/scenarios", headers=vic).json()["items"]
    assert [s["name"] for s in listed] == ["set", "more social"]
    cmp = c.get(f"{PLAN}/compare", params={"ids": [sc["id"], r2.json()["id"]]}, headers=vic)
    rows = cmp.json()["items"]
    outcome = [r for r in rows if r["entity"] == "total" and r["metric"] == "outcome"]
    assert [r["scenario"] for r in outcome] == ["more social", "set"]
    assert c.delete(f"{PLAN}/scenarios/{sc['id']}", headers=vic).status_code == 403
    assert c.delete(f"{PLAN}/scenarios/{sc['id']}", headers=ana).status_code == 204
    assert c.get(f"/api/get_scenario/{sc['id']}", headers=vic).status_code == 404
    bad = c.post(f"{PLAN}/scenarios", json={"name": "b", "allocation": {"tv": 1.0}}, headers=ana)
    assert bad.status_code == 400 and "unknown entities" in bad.json()["error"]["message"]


def test_recommendations_with_pending_actions(planned):
    c, state, ws = planned
    act = Action(
        entity=EntityRef(platform="google_ads", level=Level.CAMPAIGN, campaign_id="c1"),
        kind=ActionKind.SET_BUDGET, old_value=None, new_value=None, reason="rule says so",
        as_of=dt.date(2024, 3, 1), status=ActionStatus.PROPOSED,
    )  # fmt: skip
    rules_store.log_actions(rules_store.RuleStore.of(ws), [act])
    r = c.get("/api/get_recommendations", params={"workspace": "demo"}, headers=login(c, "vic"))
    assert r.status_code == 200, r.text
    out = r.json()
    rec = out["budget"]
    total = sum(rec["current"].values())
    assert sum(rec["allocation"].values()) == pytest.approx(total, rel=1e-9)
    assert rec["kkt_gap"] <= 1e-9 and rec["binding"]
    cs = load_curve_set(ws.store.engine, ws.id)
    # inside the trust region it lists: the same as the optimizer with those bounds
    ents = {e["id"]: e for e in rec["trust"]["entities"]}
    assert all(e["lo"] <= e["recommended"] <= e["hi"] for e in ents.values())
    bounds = Constraints(
        min={i: ents[i]["lo"] for i in cs.ids}, max={i: ents[i]["hi"] for i in cs.ids}
    )
    cur = [rec["current"][i] for i in cs.ids]
    ref = optimize(cs.curves(), total, current=cur, constraints=bounds)
    assert rec["allocation"] == pytest.approx(ref.allocation, rel=1e-9)
    assert rec["uplift"]["mean"] >= 0
    assert rec["trust"]["advice"] and rec["trust"]["test_first"] is False
    # without it (the old behaviour): the curves alone decide
    r = c.get(
        "/api/get_recommendations",
        params={"workspace": "demo", "trust_region": "false"},
        headers=login(c, "vic"),
    )
    old = r.json()["budget"]
    ref = optimize(cs.curves(), total, current=cur)
    assert old["allocation"] == pytest.approx(ref.allocation, rel=1e-9)
    assert old["trust"]["region"] is None
    assert out["pending_total"] == 1 and out["pending_actions"][0]["reason"] == "rule says so"


def test_frontier_and_optimize(planned):
    c, state, ws = planned
    h = login(c, "vic")
    r = c.get(f"{PLAN}/frontier", params={"points": 5, "target": 1.0}, headers=h)
    assert r.status_code == 200, r.text
    f = r.json()
    outs = [p["outcome"] for p in f["points"]]
    assert outs == sorted(outs) and len(outs) == 5
    assert f["max_budget"]["value"] == pytest.approx(1.0, rel=1e-6)
    r = c.post(f"{PLAN}/optimize", json={"budget": 500, "max": {"search": 100}}, headers=h)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["allocation"]["search"] == pytest.approx(100.0)
    assert any("search: held at its upper bound" in b for b in res["binding"])
    r = c.post(f"{PLAN}/optimize", json={"budget": 500, "min": {"search": 600}}, headers=h)
    assert r.status_code == 400 and "min spend" in r.json()["error"]["message"]
    sets = c.get(f"{PLAN}/curve-sets", headers=h).json()["items"]
    assert sets[0]["name"] == "manual" and sets[0]["active"]


def test_plan_store_round_trip_on_sqlite_and_postgresql(store):
    """Curve sets with draws and scenarios survive the migrated store on both databases."""
    from spendlab.plan.curvesets import list_curve_sets
    from spendlab.plan.scenarios import build_scenario, get_scenario, save_scenario

    frame = pd.DataFrame(
        {"channel": ["a", "a", "b", "b"], "draw": [0, 1, 0, 1], "type": "michaelis_menten",
         "beta": [10.0, 12.0, 7.0, 8.0], "half": [5.0, 5.5, 3.0, 3.0]}
    )  # fmt: skip
    eng = store.engine
    cs = save_curve_set(eng, "/w", "draws", frame, "week", "mmm", {"run_id": "r"})
    back = load_curve_set(eng, "/w")
    x = np.array([4.0, 2.0])
    assert np.array_equal(back.curves().response(x), cs.curves().response(x))
    assert list_curve_sets(eng, "/w")[0]["draws"] == 2
    sc = build_scenario(back, {"a": 4.0, "b": 2.0}, "s", operations=["set b to 3"])
    saved = save_scenario(eng, "/w", sc, {"operations": ["set b to 3"]})
    assert get_scenario(eng, saved["id"])["predicted"] == sc["predicted"]
