"""Per-workspace access: an authorization matrix over every route that names a workspace (route x
role x granted or not), the brief's endpoints that name it in a field, lists, jobs, grants, and
the dashboard's callbacks."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from spendlab.app.access import grant
from spendlab.app.auth import create_user
from spendlab.app.store import Role

from .conftest import PASSWORD, login

NOT_FOUND = "no workspace"


@pytest.fixture
def two_clients(app_factory, demo_template, tmp_path):
    """Workspace 1 (``demo``: ana analyst, vic viewer) and workspace 2 (``other``: eve
    analyst); ada is an admin."""
    app = app_factory(web=True)
    state = app.state.spendlab
    other = tmp_path / "other"
    shutil.copytree(demo_template, other)
    row = state.workspaces.register("other", other)
    create_user(state.store, "eve", PASSWORD, "analyst")
    grant(state.store, "eve", row, "analyst", by="test")
    with TestClient(app) as c:
        yield c, {u: login(c, u) for u in ("ada", "ana", "vic", "eve")}


def _needed(route: APIRoute) -> Role:
    names = {getattr(d.call, "__name__", "") for d in route.dependant.dependencies}
    for role in (Role.ADMIN, Role.ANALYST, Role.VIEWER):
        if f"require_{role.value}" in names:
            return role
    raise AssertionError(f"{route.path} has no role dependency")


def _api_routes(app) -> list[tuple[str, APIRoute]]:
    """(full path, route) of every API route, through included routers."""
    out = []
    for r in app.routes:
        if isinstance(r, APIRoute):
            out.append((r.path, r))
        elif hasattr(r, "original_router"):
            prefix = r.include_context.prefix
            out += [
                (prefix + s.path, s) for s in r.original_router.routes if isinstance(s, APIRoute)
            ]
    return out


def _url(path: str, workspace: int) -> str:
    path = path.replace("{workspace}", str(workspace))
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_workspace_route_by_role_and_grant(two_clients):
    c, h = two_clients
    routes = [(p, r) for p, r in _api_routes(c.app) if "{workspace}" in p]
    assert len(routes) > 30  # the walk is not vacuous
    roles = {"ada": Role.ADMIN, "ana": Role.ANALYST, "vic": Role.VIEWER}
    checked = 0
    for path, route in routes:
        needed = _needed(route)
        for method in sorted(route.methods - {"HEAD"}):
            url = _url(path, 1)
            # not granted: answered as a workspace that does not exist
            r = c.request(method, url, headers=h["eve"])
            assert r.status_code == 404 and r.json()["error"]["message"].startswith(NOT_FOUND), (
                method,
                url,
                r.status_code,
                r.text[:200],
            )
            for user, role in roles.items():
                r = c.request(method, url, headers=h[user])
                body = r.json() if r.content else {}
                msg = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
                if role.allows(needed):
                    assert r.status_code not in (401, 403), (user, method, url, r.text[:200])
                    assert not msg.startswith(NOT_FOUND), (user, method, url)
                else:
                    assert r.status_code == 403, (user, method, url, r.status_code)
                checked += 1
    assert checked > 100


def test_lists_show_only_granted_workspaces(two_clients):
    c, h = two_clients
    names = {u: [w["name"] for w in c.get("/api/v1/workspaces", headers=h[u]).json()["items"]]
             for u in h}  # fmt: skip
    assert names == {"ada": ["demo", "other"], "ana": ["demo"], "vic": ["demo"], "eve": ["other"]}


def test_the_briefs_endpoints_check_the_workspace_field(two_clients):
    c, h = two_clients
    r = c.get("/api/get_recommendations", params={"workspace": "demo"}, headers=h["eve"])
    assert r.status_code == 404
    r = c.post("/api/predict_roi", json={"workspace": "demo", "spend": {}}, headers=h["eve"])
    assert r.status_code == 404
    body = {"workspace": "demo", "name": "x", "operations": []}
    assert c.post("/api/create_scenario", json=body, headers=h["eve"]).status_code == 404
    assert c.post("/api/create_scenario", json=body, headers=h["vic"]).status_code == 403
    files = {"file": ("a.csv", b"date,spend\n", "text/csv")}
    data = {"workspace": "1", "source": "generic"}
    r = c.post("/api/upload_data", data=data, files=files, headers=h["eve"])
    assert r.status_code == 404
    r = c.get("/api/get_scenario/1", params={"workspace": "demo"}, headers=h["eve"])
    assert r.status_code == 404


def test_grants_are_managed_by_admins_and_take_effect_at_once(two_clients):
    c, h = two_clients
    assert c.get("/api/v1/workspaces/2", headers=h["ana"]).status_code == 404
    r = c.put("/api/v1/workspaces/2/grants/ana", json={"role": "viewer"}, headers=h["ana"])
    assert r.status_code == 404  # ana cannot even see workspace 2
    r = c.put("/api/v1/workspaces/1/grants/eve", json={"role": "viewer"}, headers=h["ana"])
    assert r.status_code == 403  # an analyst of workspace 1 cannot grant
    r = c.put("/api/v1/workspaces/2/grants/ana", json={"role": "viewer"}, headers=h["ada"])
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert c.get("/api/v1/workspaces/2", headers=h["ana"]).status_code == 200
    # ana is a viewer in workspace 2 while an analyst in workspace 1
    assert c.post("/api/v1/workspaces/2/mmm/fits", json={}, headers=h["ana"]).status_code == 403
    grants = c.get("/api/v1/workspaces/2/grants", headers=h["ada"]).json()
    assert {g["username"]: g["role"] for g in grants} == {"ana": "viewer", "eve": "analyst"}
    r = c.put("/api/v1/workspaces/2/grants/vic", json={"role": "analyst"}, headers=h["ada"])
    assert r.status_code == 400 and "cannot give more" in r.json()["error"]["message"]
    assert c.delete("/api/v1/workspaces/2/grants/ana", headers=h["ada"]).status_code == 204
    assert c.get("/api/v1/workspaces/2", headers=h["ana"]).status_code == 404


def _callback(ws_id: int) -> dict:
    """The Data page's load-log refresh as the browser sends it (reads the workspace picker)."""
    return {
        "output": "page.children",
        "outputs": {"id": "page", "property": "children"},
        "inputs": [{"id": "ws-select", "property": "value", "value": ws_id}],
        "changedPropIds": ["ws-select.value"],
        "state": [],
    }


def test_dashboard_callbacks_refuse_a_workspace_not_granted(two_clients):
    c, _ = two_clients
    c.post("/login", data={"username": "eve", "password": PASSWORD}, follow_redirects=False)
    headers = {"Content-Type": "application/json"}
    r = c.post("/app/_dash-update-component", content=json.dumps(_callback(1)), headers=headers)
    assert r.status_code == 404 and r.json()["error"]["message"].startswith(NOT_FOUND)
    shell = {
        "output": "..ws-select.options...ws-select.value...user-badge.children..",
        "outputs": [
            {"id": "ws-select", "property": "options"},
            {"id": "ws-select", "property": "value"},
            {"id": "user-badge", "property": "children"},
        ],
        "inputs": [{"id": "url", "property": "pathname", "value": "/app/"}],
        "changedPropIds": ["url.pathname"],
        "state": [{"id": "ws-select", "property": "value", "value": 1}],
    }
    r = c.post("/app/_dash-update-component", content=json.dumps(shell), headers=headers)
    assert r.status_code == 200, r.text[:300]
    resp = r.json()["response"]
    assert [o["label"] for o in resp["ws-select"]["options"]] == ["other"]
    assert resp["ws-select"]["value"] == 2  # the stale choice is replaced by a granted one
