"""Unknown fields in request bodies are refused with a 422 naming them, never ignored: a misspelt
``"fsat": true`` once started a full NUTS fit with the field's default."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from spendlab.app.api.bodies import Body
from spendlab.plan.curvesets import save_curve_set

from .conftest import login

RULES = "/api/v1/workspaces/demo/rules"
RULE = {
    "id": "raise",
    "name": "Raise good keywords",
    "scope": {"level": "keyword"},
    "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.0},
    "action": {"type": "bid", "mode": "percent", "value": 10, "max": 50},
}


@pytest.fixture
def served(app_factory):
    app = app_factory()
    state = app.state.spendlab
    frame = pd.DataFrame(
        {"channel": ["search", "social"], "type": ["hill", "logistic"], "beta": [900.0, 700.0],
         "half": [150.0, None], "s": [0.6, None], "lam": [None, 0.006], "current": [80.0, 0.0]}
    )  # fmt: skip
    ws = state.workspaces.handle("demo")
    save_curve_set(ws.store.engine, ws.id, "strict", frame, "day", "manual")
    with TestClient(app) as c:
        yield c, state, ws


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _open_objects(spec: dict, schema: dict, where: str, seen: set[str]) -> list[str]:
    """Object schemas with declared properties under ``schema`` that accept undeclared ones."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _open_objects(spec, _resolve(spec, schema), f"{where}->{name}", seen)
    found = []
    if "properties" in schema and schema.get("additionalProperties") is not False:
        found.append(where)
    for key, sub in schema.get("properties", {}).items():
        found += _open_objects(spec, sub, f"{where}.{key}", seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key, [])):
            found += _open_objects(spec, sub, f"{where}[{i}]", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _open_objects(spec, schema[key], f"{where}.{key}", seen)
    return found


def test_every_json_request_body_forbids_unknown_fields(app_factory):
    spec = app_factory().openapi()
    bodies, open_ = 0, []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            bodies += 1
            schema = content["application/json"]["schema"]
            open_ += _open_objects(spec, schema, f"{method.upper()} {path}", set())
    assert bodies >= 20, bodies  # the walk found the bodies (a broken walk finds none)
    assert open_ == [], open_
    # the shared rule is a base class; response models keep ignoring extras
    token_pair = spec["components"]["schemas"]["TokenPair"]
    assert token_pair.get("additionalProperties") is not False


def test_the_walk_catches_an_open_body():
    """The schema walk above can fail: a nested plain model inside a Body is reported."""

    class Inner(BaseModel):
        x: int = 0

    class Outer(Body):
        inner: Inner | None = None

    spec = {"components": {"schemas": {}}}
    schema = Outer.model_json_schema(ref_template="#/components/schemas/{model}")
    spec["components"]["schemas"].update(schema.pop("$defs"))
    assert _open_objects(spec, schema, "Outer", set()) == ["Outer.inner[0]->Inner"]


def _unknown(r, location: str, field: str, accepted: str) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    issue = next(i for i in err["issues"] if i["location"] == location)
    assert f"unknown field '{field}'" in issue["problem"], issue
    assert accepted in issue["problem"], issue
    assert "spelling" in issue["fix"]
    assert field in err["message"]
    return err


def test_a_misspelt_fit_option_starts_no_fit(served):
    c, state, _ = served
    h = login(c, "ana")
    r = c.post("/api/v1/workspaces/demo/mmm/fits", json={"fsat": True, "draws": 20}, headers=h)
    err = _unknown(r, "body.fsat", "fsat", "fast")
    accepted = "accepted: activate, adstock, chains, channel_by, channel_map, channels, controls"
    assert accepted in err["issues"][0]["problem"]
    assert c.get("/api/v1/jobs", headers=h).json()["total"] == 0
    assert c.get("/api/v1/workspaces/demo/mmm/runs", headers=h).json()["total"] == 0


def test_a_misspelt_scenario_field_saves_nothing(served):
    c, state, ws = served
    h = login(c, "ana")
    body = {"workspace": "demo", "name": "more social", "operatoins": []}
    _unknown(c.post("/api/create_scenario", json=body, headers=h), "body.operatoins",
             "operatoins", "accepted: allocation, budget, name, operations, workspace")  # fmt: skip
    # nested: an operation's misspelt key is located inside the list
    body = {"workspace": "demo", "name": "x", "operations": [{"op": "scale", "chanel": "search"}]}
    r = c.post("/api/create_scenario", json=body, headers=h)
    _unknown(r, "body.operations.0.chanel", "chanel", "accepted: channel, from, op, pct, to")
    assert c.get("/api/v1/workspaces/demo/plan/scenarios", headers=h).json()["items"] == []
    # the alias and the field name of ``from`` both still work, and the fixed body saves one
    for key in ("from", "from_"):
        op = {"op": "shift", key: "search", "to": "social", "pct": 10}
        ok = {"workspace": "demo", "name": key, "operations": [op]}
        assert c.post("/api/create_scenario", json=ok, headers=h).status_code == 201
    assert len(c.get("/api/v1/workspaces/demo/plan/scenarios", headers=h).json()["items"]) == 2


def test_a_misspelt_rule_field_saves_no_rule(served):
    c, state, ws = served
    h = login(c, "ada")
    r = c.post(RULES, json={"spec": RULE, "mdoe": "auto"}, headers=h)
    _unknown(r, "body.mdoe", "mdoe", "accepted: mode, spec, yaml")
    assert c.get(RULES, headers=h).json()["total"] == 0
    assert c.post(RULES, json={"spec": RULE, "mode": "auto"}, headers=h).status_code == 201


def test_get_recommendations_with_a_misspelt_parameter_is_refused(served):
    c, state, ws = served
    h = login(c, "vic")
    r = c.get("/api/get_recommendations", params={"workspce": "demo"}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["issues"][0]["location"] == "query.workspace"
    ok = c.get("/api/get_recommendations", params={"workspace": "demo"}, headers=h)
    assert ok.status_code == 200, ok.text


def test_non_object_bodies_keep_pydantic_errors(served):
    c, _, _ = served
    r = c.post("/api/v1/workspaces/demo/mmm/fits", json=[1], headers=login(c, "ana"))
    assert r.status_code == 422 and r.json()["error"]["issues"][0]["location"] == "body"
