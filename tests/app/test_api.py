"""REST API: every route's role check, the error shape, pagination, uploads, the explorer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from spendlab.store import head_revision

from .conftest import PASSWORD, login

FIXTURES = Path(__file__).parents[1] / "data" / "fixtures"
BAD_FILE = FIXTURES / "google_ads_ui" / "negative_cost.csv"
GOOD_FILE = FIXTURES / "google_ads_api" / "keywords.csv"
EXPLORER = "/api/v1/workspaces/demo/explorer"
PLAN = "/api/v1/workspaces/demo/plan"
RULES = "/api/v1/workspaces/demo/rules"
RULE = {
    "id": "r1",
    "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.0},
    "action": {"type": "bid", "mode": "percent", "value": 10},
}

# (method, path, minimum role, json body)
ROUTES = [
    ("GET", "/api/v1/auth/me", "viewer", None),
    ("GET", "/api/v1/users", "admin", None),
    ("POST", "/api/v1/users", "admin", {"username": "neo", "password": PASSWORD}),
    ("PATCH", "/api/v1/users/vic", "admin", {"role": "analyst"}),
    ("DELETE", "/api/v1/users/vic", "admin", None),
    ("GET", "/api/v1/api-keys", "admin", None),
    ("POST", "/api/v1/api-keys", "admin", {"name": "ci"}),
    ("DELETE", "/api/v1/api-keys/1", "admin", None),
    ("GET", "/api/v1/workspaces", "viewer", None),
    ("POST", "/api/v1/workspaces", "admin", {"name": "x", "path": "/nonexistent/ws"}),
    ("GET", "/api/v1/workspaces/demo", "viewer", None),
    ("GET", "/api/v1/workspaces/demo/grants", "admin", None),
    ("PUT", "/api/v1/workspaces/demo/grants/vic", "admin", {"role": "viewer"}),
    ("DELETE", "/api/v1/workspaces/demo/grants/vic", "admin", None),
    ("GET", "/api/v1/sources", "viewer", None),
    ("GET", "/api/v1/workspaces/demo/datasets", "viewer", None),
    ("POST", "/api/v1/workspaces/demo/datasets", "analyst", None),
    ("GET", "/api/v1/workspaces/demo/loads", "viewer", None),
    ("GET", f"{EXPLORER}/summary", "viewer", None),
    ("GET", f"{EXPLORER}/entities", "viewer", None),
    ("GET", f"{EXPLORER}/trend", "viewer", None),
    ("GET", "/api/v1/jobs", "viewer", None),
    ("POST", "/api/v1/workspaces/demo/attribution", "viewer", {"model": "linear"}),
    ("GET", "/api/v1/workspaces/demo/attribution/compare", "viewer", None),
    ("POST", "/api/v1/workspaces/demo/mmm/fits", "analyst", {"channels": ["tv"]}),
    ("GET", "/api/v1/workspaces/demo/mmm/runs", "viewer", None),
    ("GET", "/api/v1/workspaces/demo/mmm/runs/r1", "viewer", None),
    ("GET", "/api/v1/workspaces/demo/mmm/runs/r1/decomposition", "viewer", None),
    ("GET", "/api/v1/workspaces/demo/mmm/runs/r1/fitted", "viewer", None),
    ("GET", "/api/v1/workspaces/demo/mmm/runs/r1/curves", "viewer", None),
    ("GET", "/api/v1/workspaces/demo/mmm/runs/r1/adstock", "viewer", None),
    ("GET", "/api/v1/jobs/abc", "viewer", None),
    ("GET", f"{PLAN}/curve-sets", "viewer", None),
    ("GET", f"{PLAN}/scenarios", "viewer", None),
    ("POST", f"{PLAN}/scenarios", "analyst", {"name": "s"}),
    ("GET", f"{PLAN}/scenarios/1", "viewer", None),
    ("DELETE", f"{PLAN}/scenarios/1", "analyst", None),
    ("GET", f"{PLAN}/compare", "viewer", None),
    ("GET", f"{PLAN}/frontier", "viewer", None),
    ("POST", f"{PLAN}/optimize", "viewer", {}),
    ("GET", RULES, "viewer", None),
    ("POST", RULES, "analyst", {"spec": RULE}),
    ("GET", f"{RULES}/templates", "viewer", None),
    ("POST", f"{RULES}/validate", "viewer", {"spec": {"id": "x"}}),
    ("POST", f"{RULES}/preview", "viewer", {"spec": RULE, "as_of": "2024-03-11"}),
    ("POST", f"{RULES}/run", "analyst", {"mode": "suggest"}),
    ("POST", f"{RULES}/backtest", "analyst", {"spec": RULE, "days": 1}),
    ("GET", f"{RULES}/schedule", "viewer", None),
    ("GET", f"{RULES}/queue", "viewer", None),
    ("POST", f"{RULES}/queue/approve", "analyst", {"ids": [1]}),
    ("POST", f"{RULES}/queue/reject", "analyst", {"ids": [1]}),
    ("GET", f"{RULES}/actions", "viewer", None),
    ("POST", f"{RULES}/undo", "analyst", {"action_ids": [1]}),
    ("GET", f"{RULES}/runs", "viewer", None),
    ("GET", f"{RULES}/export?format=meta", "viewer", None),
    ("GET", f"{RULES}/effectiveness", "viewer", None),
    ("GET", f"{RULES}/activity", "viewer", None),
    ("GET", f"{RULES}/r1", "viewer", None),
    ("GET", f"{RULES}/r1/versions", "viewer", None),
    ("PUT", f"{RULES}/r1", "analyst", {"spec": RULE}),
    ("PATCH", f"{RULES}/r1", "analyst", {"enabled": False}),
    ("DELETE", f"{RULES}/r1", "analyst", None),
    ("POST", "/api/upload_data", "analyst", None),
    ("POST", "/api/create_scenario", "analyst", {"workspace": "demo", "name": "s"}),
    ("GET", "/api/get_scenario/1", "viewer", None),
    ("POST", "/api/predict_roi", "viewer", {"workspace": "demo", "spend": {"search": 1.0}}),
    ("GET", "/api/get_recommendations?workspace=demo", "viewer", None),
]
BELOW = {"viewer": None, "analyst": "vic", "admin": "ana"}
AT = {"viewer": "vic", "analyst": "ana", "admin": "ada"}


def call(client, method, path, body, headers=None):
    return client.request(method, path, json=body, headers=headers or {})


def test_every_route_is_in_the_matrix(client):
    """A new route must be added to ROUTES (and so get its role tests)."""
    schema = client.get("/openapi.json").json()
    documented = {
        (m.upper(), p) for p, ops in schema["paths"].items() for m in ops if p != "/api/v1/health"
    }
    covered = {(m, p.split("?")[0]) for m, p, _, _ in ROUTES}
    covered |= {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/refresh")}
    covered |= {("POST", "/api/v1/auth/logout")}

    def norm(p: str) -> str:
        return (
            p.replace("{workspace}", "demo")
            .replace("{username}", "vic")
            .replace("{key_id}", "1")
            .replace("{scenario_id}", "1")
            .replace("{job_id}", "abc")
            .replace("{run_id}", "r1")
            .replace("{rule_id}", "r1")
        )

    assert {(m, norm(p)) for m, p in documented} == covered


@pytest.mark.parametrize(("method", "path", "role", "body"), ROUTES)
def test_unauthenticated_calls_get_401_with_the_error_shape(client, method, path, role, body):
    r = call(client, method, path, body)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == "unauthorized" and err["status"] == 401 and err["message"]
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "role", "body"), ROUTES)
def test_roles(client, method, path, role, body):
    lower = BELOW[role]
    if lower is not None:
        r = call(client, method, path, body, login(client, lower))
        assert r.status_code == 403, r.text
        assert role in r.json()["error"]["message"]
    r = call(client, method, path, body, login(client, AT[role]))
    assert r.status_code not in (401, 403, 500), r.text


def test_health_is_public(client):
    r = client.get("/api/v1/health")
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["status"] == "ok" and body["store_revision"] == head_revision()


def test_login_failures_reveal_nothing_and_are_rate_limited(app_factory):
    with TestClient(app_factory(login_attempts_per_minute=3)) as c:
        unknown = c.post("/api/v1/auth/token", data={"username": "nobody", "password": "x" * 12})
        wrong = c.post("/api/v1/auth/token", data={"username": "ada", "password": "x" * 12})
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json() == wrong.json()
        for pw in ("y" * 12, "z" * 12):
            again = c.post("/api/v1/auth/token", data={"username": "ada", "password": pw})
            assert again.status_code == 401
        blocked = c.post("/api/v1/auth/token", data={"username": "ada", "password": PASSWORD})
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        assert blocked.json()["error"]["code"] == "rate_limited"
        # another user behind the same address (an office NAT) is not locked out
        other = c.post("/api/v1/auth/token", data={"username": "ana", "password": PASSWORD})
        assert other.status_code == 200


def test_refresh_rotates_and_logout_revokes(client):
    pair = client.post("/api/v1/auth/token", data={"username": "ana", "password": PASSWORD})
    refresh = pair.json()["refresh_token"]
    new = client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert new.status_code == 200
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert again.status_code == 401
    r2 = new.json()["refresh_token"]
    assert client.post("/api/v1/auth/logout", json={"refresh_token": r2}).status_code == 204
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": r2}).status_code == 401


def test_api_key_authenticates_with_its_role(client):
    admin = login(client, "ada")
    made = client.post("/api/v1/api-keys", json={"name": "etl", "role": "viewer"}, headers=admin)
    assert made.status_code == 201
    key = made.json()["key"]
    me = client.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()
    assert me == {"username": "ada", "role": "viewer", "via": "api_key"}
    bearer = client.get("/api/v1/users", headers={"Authorization": f"Bearer {key}"})
    assert bearer.status_code == 403  # the key is viewer even though its owner is admin
    listed = client.get("/api/v1/api-keys", headers=admin).json()
    assert key not in str(listed) and listed["items"][0]["prefix"] in key
    kid = made.json()["id"]
    assert client.delete(f"/api/v1/api-keys/{kid}", headers=admin).status_code == 204
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401


def test_user_admin_guards_the_last_admin(client):
    admin = login(client, "ada")
    r = client.patch("/api/v1/users/ada", json={"role": "viewer"}, headers=admin)
    assert r.status_code == 400 and "last admin" in r.json()["error"]["message"]
    assert client.delete("/api/v1/users/ada", headers=admin).status_code == 400
    assert client.delete("/api/v1/users/ghost", headers=admin).status_code == 404
    made = client.post(
        "/api/v1/users",
        json={"username": "neo", "password": PASSWORD, "role": "analyst"},
        headers=admin,
    )
    assert made.status_code == 201 and made.json()["role"] == "analyst"
    dup = client.post(
        "/api/v1/users", json={"username": "neo", "password": PASSWORD}, headers=admin
    )
    assert dup.status_code == 400 and "already exists" in dup.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "neo"},
        {"username": "neo", "password": PASSWORD, "role": "god"},
        {"username": ["neo"], "password": PASSWORD},
        "not json at all",
    ],
)
def test_malformed_bodies_get_422_with_issues(client, body):
    admin = login(client, "ada")
    if isinstance(body, str):
        r = client.post(
            "/api/v1/users", content=body, headers={**admin, "content-type": "application/json"}
        )
    else:
        r = client.post("/api/v1/users", json=body, headers=admin)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error" and err["issues"]
    assert all({"location", "problem", "fix"} <= set(i) for i in err["issues"])


def test_pagination(client):
    admin = login(client, "ada")
    page1 = client.get("/api/v1/users?page=1&page_size=2", headers=admin).json()
    page2 = client.get("/api/v1/users?page=2&page_size=2", headers=admin).json()
    assert page1["total"] == page2["total"] == 3
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1
    names = [u["username"] for u in page1["items"] + page2["items"]]
    assert sorted(names) == names == ["ada", "ana", "vic"]
    assert client.get("/api/v1/users?page=0", headers=admin).status_code == 422
    assert client.get("/api/v1/users?page_size=100000", headers=admin).status_code == 422


def _tables(client, headers):
    return {
        t["name"]: t for t in client.get("/api/v1/workspaces/demo/datasets", headers=headers).json()
    }


def test_upload_good_file_loads_and_reports(client):
    h = login(client, "ana")
    before = _tables(client, h)["ad_performance"]["rows"]
    with GOOD_FILE.open("rb") as f:
        r = client.post(
            "/api/v1/workspaces/demo/datasets",
            files={"file": ("keywords.csv", f, "text/csv")},
            data={"source": "google_ads_api"},
            headers=h,
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["file"] == "keywords.csv" and body["rows"]["added"] == 4
    assert _tables(client, h)["ad_performance"]["rows"] == before + 4
    loads = client.get("/api/v1/workspaces/demo/loads", headers=h).json()
    assert loads["items"][0]["file"] == "keywords.csv"


def test_upload_bad_file_is_rejected_row_by_row_and_writes_nothing(client):
    h = login(client, "ana")
    before = _tables(client, h)
    with BAD_FILE.open("rb") as f:
        r = client.post(
            "/api/upload_data",
            files={"file": ("negative_cost.csv", f, "text/csv")},
            data={"workspace": "demo", "source": "google_ads_ui"},
            headers=h,
        )
    assert r.status_code == 422
    issue = r.json()["error"]["issues"][0]
    assert (issue["file"], issue["row"], issue["column"]) == ("negative_cost.csv", 5, "spend")
    assert "negative" in issue["problem"] and issue["fix"]
    assert _tables(client, h) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"source": "nope"}, "unknown source"),
        ({"source": "generic", "options": "{not json"}, "not valid JSON"),
        ({"source": "generic", "options": "[1]"}, "JSON object"),
    ],
)
def test_upload_bad_parameters(client, data, message):
    h = login(client, "ana")
    r = client.post(
        "/api/v1/workspaces/demo/datasets",
        files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
        data=data,
        headers=h,
    )
    assert r.status_code == 400 and message in r.json()["error"]["message"]


def test_oversized_upload_gets_413_with_a_message(app_factory):
    with TestClient(app_factory(max_upload_bytes=2048)) as c:
        h = login(c, "ana")
        r = c.post(
            "/api/v1/workspaces/demo/datasets",
            files={"file": ("big.csv", b"x" * 10_000, "text/csv")},
            data={"source": "generic"},
            headers=h,
        )
        assert r.status_code == 413
        assert "limit" in r.json()["error"]["message"]

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"y" * 1000

        r2 = c.post(
            "/api/v1/workspaces/demo/datasets",
            content=chunks(),
            headers={**h, "content-type": "multipart/form-data; boundary=zzz"},
        )
        assert r2.status_code == 413


def test_unknown_workspace_is_404(client):
    h = login(client, "vic")
    r = client.get("/api/v1/workspaces/nope/datasets", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def _expected(ws: Path, start: dt.date, end: dt.date) -> dict[str, float]:
    """Independent of the explorer: plain DuckDB over the warehouse file."""
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    row = con.execute(
        "select sum(spend), sum(conversion_value), sum(clicks) from ad_performance "
        "where date between ? and ?",
        [start, end],
    ).fetchone()
    con.close()
    return {"spend": row[0], "revenue": row[1], "clicks": row[2]}


def test_explorer_totals_match_the_warehouse(app_factory, demo_ws):
    app = app_factory()
    with TestClient(app) as c:
        h = login(c, "vic")
        body = c.get(f"{EXPLORER}/summary?preset=last_30_days", headers=h).json()
        per = body["period"]
        trend = c.get(f"{EXPLORER}/trend?preset=last_30_days", headers=h).json()["items"]
    app.state.spendlab.workspaces.close_all()
    start, end = dt.date.fromisoformat(per["start"]), dt.date.fromisoformat(per["end"])
    assert end == dt.date(2024, 3, 10) and (end - start).days == 29
    cur, prev = (
        _expected(demo_ws, start, end),
        _expected(
            demo_ws,
            dt.date.fromisoformat(per["previous_start"]),
            dt.date.fromisoformat(per["previous_end"]),
        ),
    )
    for k in ("spend", "revenue", "clicks"):
        assert body["current"][k] == pytest.approx(cur[k], rel=1e-9)
        assert body["previous"][k] == pytest.approx(prev[k], rel=1e-9)
        assert body["delta"][k] == pytest.approx((cur[k] - prev[k]) / prev[k], rel=1e-9)
    assert body["current"]["roas"] == pytest.approx(cur["revenue"] / cur["spend"])
    assert len(trend) == 30
    assert sum(d["spend"] for d in trend) == pytest.approx(cur["spend"])


def test_explorer_entities_paged_sorted_and_drilled(client):
    h = login(client, "vic")
    full = client.get(f"{EXPLORER}/entities?level=campaign&page_size=500", headers=h).json()
    assert full["total"] == len(full["items"]) >= 6  # campaigns with delivery in the range
    spends = [r["spend"] for r in full["items"]]
    assert spends == sorted(spends, reverse=True)
    page2 = client.get(f"{EXPLORER}/entities?level=campaign&page=2&page_size=3", headers=h).json()
    assert [r["campaign_id"] for r in page2["items"]] == [
        r["campaign_id"] for r in full["items"][3:6]
    ]
    summary = client.get(f"{EXPLORER}/summary", headers=h).json()
    assert sum(spends) == pytest.approx(summary["current"]["spend"])
    search = next(
        r
        for r in full["items"]
        if r["platform"] == "google_ads" and r["name"].startswith(("Brand", "Generic"))
    )
    q = f"level=ad_group&campaign_id={search['campaign_id']}&page_size=500"
    groups = client.get(f"{EXPLORER}/entities?{q}", headers=h).json()
    assert groups["total"] >= 1
    assert sum(g["spend"] for g in groups["items"]) == pytest.approx(search["spend"])
    asc = client.get(f"{EXPLORER}/entities?sort=cpa&order=asc&page_size=500", headers=h).json()
    cpas = [r["cpa"] for r in asc["items"] if r["cpa"] is not None]
    assert cpas == sorted(cpas)


@pytest.mark.parametrize(
    "query",
    [
        "start=2024-03-10&end=2024-03-01",
        "start=2024-03-01",
        "sort=drop%20table",
        "level=planet",
        "preset=yesterday",
    ],
)
def test_explorer_bad_queries(client, query):
    h = login(client, "vic")
    r = client.get(f"{EXPLORER}/entities?{query}", headers=h)
    assert r.status_code in (400, 422)
    assert r.json()["error"]["message"]


def test_hostile_filter_values_are_data(client):
    h = login(client, "vic")
    evil = "x' OR '1'='1"
    r = client.get(f"{EXPLORER}/entities", params={"campaign_id": evil}, headers=h)
    assert r.status_code == 200 and r.json()["total"] == 0


def test_not_configured_endpoints_say_what_to_do(client):
    h = login(client, "ana")
    r = client.post("/api/predict_roi", json={"workspace": "demo", "spend": {"s": 1}}, headers=h)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_configured"
    assert "spendlab mmm fit" in r.json()["error"]["message"]
    assert client.get("/api/get_scenario/7", headers=h).status_code == 404


def test_new_workspaces_only_inside_the_root(app_factory, tmp_path):
    with TestClient(app_factory(home=tmp_path / "home")) as c:
        h = login(c, "ada")
        outside = c.post(
            "/api/v1/workspaces",
            json={"name": "evil", "path": str(tmp_path / "elsewhere"), "create": True},
            headers=h,
        )
        assert outside.status_code == 400 and "inside" in outside.json()["error"]["message"]
        escape = c.post(
            "/api/v1/workspaces", json={"name": "e2", "path": "../../x", "create": True}, headers=h
        )
        assert escape.status_code == 400
        made = c.post(
            "/api/v1/workspaces",
            json={"name": "fresh", "path": "fresh", "create": True, "currency": "eur"},
            headers=h,
        )
        assert made.status_code == 201, made.text
        assert made.json()["path"] == str(tmp_path / "home" / "workspaces" / "fresh")
        detail = c.get("/api/v1/workspaces/fresh", headers=h).json()
        assert detail["currency"] == "EUR" and detail["tables"]
        nul = c.post("/api/v1/workspaces", json={"name": "n", "path": "a\u0000b"}, headers=h)
        assert nul.status_code == 400
    assert not (tmp_path / "elsewhere").exists()


def test_attribution_on_the_workspace_journeys(client):
    h = login(client, "vic")
    r = client.post(
        "/api/v1/workspaces/demo/attribution",
        json={"model": "markov", "order": 2, "bootstrap": 20},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    credited = sum(c["conversions"] for c in body["channels"])
    assert credited == pytest.approx(body["total_conversions"], rel=1e-9)
    assert all(c["conversions_lo"] <= c["conversions_hi"] for c in body["channels"])
    assert sum(c["share"] for c in body["channels"]) == pytest.approx(1.0)
    rows = client.get("/api/v1/workspaces/demo/attribution/compare", headers=h).json()["items"]
    assert {"markov", "last_touch", "shapley"} <= {r["model"] for r in rows}
    bad = client.post("/api/v1/workspaces/demo/attribution", json={"model": "magic"}, headers=h)
    assert bad.status_code == 422
