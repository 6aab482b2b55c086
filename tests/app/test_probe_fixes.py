"""Regression tests for what a security probe of `spendlab serve` found (reliability issue)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from .conftest import PASSWORD, login

HUGE = "9223372036854775808"  # 2**63: past every 64-bit integer column


@pytest.mark.parametrize("ref", [HUGE, "99999999999999999999999999", "0"])
def test_huge_workspace_references_are_not_found_not_500(client, ref):
    h = login(client, "vic")
    for path in (f"/api/v1/workspaces/{ref}", f"/api/v1/workspaces/{ref}/loads"):
        r = client.get(path, headers=h)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_found"


def test_a_viewer_replaying_the_add_user_callback_gets_403(app_factory):
    with TestClient(app_factory(web=True)) as c:
        form = {"username": "vic", "password": PASSWORD}
        r = c.post("/login", data=form, follow_redirects=False)
        assert r.status_code == 303
        body = {
            "output": "..user-msg.children...settings-users-wrap.children..",
            "outputs": [
                {"id": "user-msg", "property": "children"},
                {"id": "settings-users-wrap", "property": "children"},
            ],
            "inputs": [{"id": "add-user", "property": "n_clicks", "value": 1}],
            "changedPropIds": ["add-user.n_clicks"],
            "state": [
                {"id": "new-user", "property": "value", "value": "mallory"},
                {"id": "new-pass", "property": "value", "value": "long-enough-password"},
                {"id": "new-role", "property": "value", "value": "admin"},
            ],
        }
        headers = {"Content-Type": "application/json"}
        r = c.post("/app/_dash-update-component", content=json.dumps(body), headers=headers)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"
        users = c.get("/api/v1/users", headers=login(c, "ada")).json()["items"]
        assert "mallory" not in {u["username"] for u in users}
