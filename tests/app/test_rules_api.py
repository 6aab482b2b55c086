"""Rules REST API: library and versions, validation with locations, preview = the domain's
preview, suggest -> approve -> undo with the approver recorded, stale refusals, auto needs an
admin, the log's filters and paging, bulk export round trip, backtest job, hostile text."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
import yaml
from fastapi.testclient import TestClient

from spendlab.automate import pipeline
from spendlab.automate.connectors import read_export
from spendlab.automate.rules import parse_rules
from spendlab.automate.specs import templates
from spendlab.automate.store import RuleStore

from .conftest import login

R = "/api/v1/workspaces/demo/rules"
DAY = date(2024, 3, 11)  # the demo data ends 2024-03-10
RAISE = {
    "id": "raise",
    "name": "Raise good keywords",
    "scope": {"level": "keyword"},
    "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.0},
    "action": {"type": "bid", "mode": "percent", "value": 10, "max": 50},
}


@pytest.fixture
def app(app_factory):
    return app_factory()


@pytest.fixture
def c(app):
    with TestClient(app) as client:
        yield client


def _entity_bid(app, a: dict) -> Decimal | None:
    e = a["entity"]
    with app.state.spendlab.workspaces.warehouse("demo") as wh:
        t = wh.table("entities")
        rows = (
            t.filter(
                (t.platform == e["platform"])
                & (t.level == e["level"])
                & (t.campaign_id == e["campaign_id"])
                & (t.ad_group_id == e["ad_group_id"])
                & (t.keyword_id == e["keyword_id"])
            )
            .select("bid")
            .to_pyarrow()
            .to_pylist()
        )
    assert len(rows) == 1
    return None if rows[0]["bid"] is None else Decimal(str(rows[0]["bid"]))


def test_library_versions_enable_mode_and_delete(c):
    ana, ada = login(c, "ana"), login(c, "ada")
    tpl = next(t for t in c.get(f"{R}/templates", headers=ana).json()["items"]
               if t["id"] == "revive-paused")  # fmt: skip
    assert tpl["description"] and "revive" in tpl["yaml"]
    made = c.post(R, json={"yaml": tpl["yaml"]}, headers=ana)
    assert made.status_code == 201 and made.json()["version"] == 1
    assert made.json()["mode"] == "suggest"
    same = c.post(R, json={"yaml": tpl["yaml"]}, headers=ana).json()
    assert same["version"] == 1  # unchanged spec: no new version
    changed = {**tpl["spec"], "priority": 5}
    put = c.put(f"{R}/revive-paused", json={"spec": changed}, headers=ana).json()
    assert put["version"] == 2 and put["spec"]["priority"] == 5
    off = c.patch(f"{R}/revive-paused", json={"enabled": False}, headers=ana).json()
    assert off["version"] == 3 and off["enabled"] is False
    vers = c.get(f"{R}/revive-paused/versions", headers=login(c, "vic")).json()["items"]
    assert [v["version"] for v in vers] == [1, 2, 3] and {v["author"] for v in vers} == {"ana"}
    auto = c.patch(f"{R}/revive-paused", json={"mode": "auto"}, headers=ana)
    assert auto.status_code == 403 and "admin" in auto.json()["error"]["message"]
    to_auto = c.patch(f"{R}/revive-paused", json={"mode": "auto"}, headers=ada)
    assert to_auto.json()["mode"] == "auto"
    assert c.delete(f"{R}/revive-paused", headers=ana).json() == {"deleted": "revive-paused"}
    assert c.get(R, headers=ana).json()["total"] == 0
    assert c.get(f"{R}/revive-paused", headers=ana).status_code == 404
    back = c.post(R, json={"spec": changed}, headers=ana)
    assert back.status_code == 201 and c.get(R, headers=ana).json()["total"] == 1


def test_validate_locates_each_problem(c):
    h = login(c, "vic")
    text = (
        "id: bad rule\n"
        "conditions:\n"
        "  all:\n"
        "    - {kpi: roas, window: {days: 14}, op: '>>', value: 1}\n"
        "    - {kpi: roas, window: {days: 14}, op: '>', value: 1}\n"
        "action: {type: bid}\n"
    )
    body = c.post(f"{R}/validate", json={"yaml": text}, headers=h).json()
    assert body["valid"] is False
    found = {(i["location"], i["line"]) for i in body["issues"]}
    assert found == {("id", 1), ("conditions.all.0.op", 4), ("action", 6)}
    assert all(i["problem"] and i["fix"] for i in body["issues"])
    syntax = c.post(f"{R}/validate", json={"yaml": "id: x\n  bad: [\n"}, headers=h).json()
    assert syntax["valid"] is False and syntax["issues"][0]["line"] == 2
    ok = c.post(f"{R}/validate", json={"spec": RAISE}, headers=h).json()
    assert ok["valid"] and ok["rule"]["id"] == "raise" and ok["issues"] == []
    # saving an invalid rule: 422 with the same locations in the one error shape
    r = c.post(R, json={"yaml": text}, headers=login(c, "ana"))
    assert r.status_code == 422
    assert {(i["column"], i["row"]) for i in r.json()["error"]["issues"]} == found
    both = c.post(f"{R}/validate", json={"yaml": text, "spec": RAISE}, headers=h)
    assert both.status_code == 422


def test_preview_is_the_domain_preview_and_writes_nothing(app, c):
    tpl = next(t for t in templates() if t["id"] == "raise-bids-roas-rising")
    body = c.post(
        f"{R}/preview", json={"yaml": tpl["yaml"], "as_of": str(DAY)}, headers=login(c, "vic")
    ).json()
    with app.state.spendlab.workspaces.warehouse("demo") as wh:
        want = pipeline.run_rules(
            wh, parse_rules(yaml.safe_load(tpl["yaml"])), DAY, respect_schedule=False
        )
    assert body["as_of"] == str(DAY)
    assert body["entities"] == len({a.entity.key() for a in want.actions}) > 0
    got = [(a["entity_id"], a["new_value"], a["reason"], a["status"]) for a in body["actions"]]
    assert got == [
        (a.entity.entity_id, float(a.new_value), a.reason, a.status.value) for a in want.actions
    ]
    a0 = body["actions"][0]
    assert a0["features"] and "roas last 14 days" in a0["reason"]
    assert c.get(f"{R}/actions", headers=login(c, "vic")).json()["total"] == 0
    assert _entity_bid(app, a0) == Decimal(str(a0["old_value"]))


def test_suggest_approve_reject_undo_with_stale_checks(app, c):
    ana = login(c, "ana")
    assert c.post(R, json={"spec": RAISE}, headers=ana).status_code == 201
    run = c.post(f"{R}/run", json={"as_of": str(DAY), "mode": "suggest"}, headers=ana).json()
    assert run["mode"] == "suggest" and len(run["actions"]) >= 4
    queue = c.get(f"{R}/queue?page_size=500", headers=ana).json()
    assert queue["total"] == len(run["actions"])
    (a, b, d, *_) = sorted(queue["items"], key=lambda x: x["action_id"])
    # an outside change to a's entity since the proposal: refused, named, not written
    with app.state.spendlab.workspaces.warehouse("demo") as wh:
        rs = RuleStore.of(app.state.spendlab.workspaces.handle("demo"))
        act = pipeline.store.select_actions(rs, ids=[a["action_id"]])[0][1]
        pipeline.write_entities(wh, [(act, Decimal("9.99"))], "test:outside")
    ids = [a["action_id"], b["action_id"]]
    res = c.post(f"{R}/queue/approve", json={"ids": ids}, headers=ana).json()
    assert res["executed"] == [b["action_id"]]
    assert res["refused"][0]["action_id"] == a["action_id"]
    assert "is now 9.99" in res["refused"][0]["message"]
    forced = c.post(f"{R}/queue/approve", json={"ids": ids[:1], "force": True}, headers=ana)
    assert forced.json()["executed"] == ids[:1]
    rej = c.post(f"{R}/queue/reject", json={"ids": [d["action_id"]]}, headers=ana).json()
    assert rej["rejected"] == [d["action_id"]]
    log = c.get(f"{R}/actions?status=executed&status=rejected", headers=ana).json()["items"]
    assert {x["action_id"]: (x["status"], x["approver"]) for x in log} == {
        a["action_id"]: ("executed", "ana"),
        b["action_id"]: ("executed", "ana"),
        d["action_id"]: ("rejected", "ana"),
    }
    assert _entity_bid(app, b) == Decimal(str(b["new_value"]))
    undone = c.post(f"{R}/undo", json={"action_ids": [b["action_id"]]}, headers=ana).json()
    assert undone == {"undone": [b["action_id"]], "refused": []}
    assert _entity_bid(app, b) == Decimal(str(b["old_value"]))
    assert c.post(f"{R}/undo", json={"run_id": "x", "rule_id": "y"}, headers=ana).status_code == 422


def test_auto_runs_need_an_admin_and_execute(app, c):
    ana, ada = login(c, "ana"), login(c, "ada")
    c.post(R, json={"spec": RAISE}, headers=ana)
    body = {"as_of": str(DAY), "mode": "auto"}
    denied = c.post(f"{R}/run", json=body, headers=ana)
    assert denied.status_code == 403 and "admin" in denied.json()["error"]["message"]
    run = c.post(f"{R}/run", json=body, headers=ada).json()
    assert run["actions"] and {x["status"] for x in run["actions"]} == {"executed"}
    for x in run["actions"][:3]:
        assert _entity_bid(app, x) == Decimal(str(x["new_value"]))
    again = c.post(f"{R}/run", json=body, headers=ada).json()
    assert again["actions"] == [] and again["skipped_rules"] == ["raise"]
    runs = c.get(f"{R}/runs", headers=ana).json()["items"]
    assert [r["mode"] for r in runs] == ["auto", "auto"] and runs[-1]["rules"] == ["raise"]


def test_log_filters_paging_activity_and_export_round_trip(app, c, tmp_path):
    ada = login(c, "ada")
    c.post(R, json={"spec": RAISE}, headers=ada)
    run = c.post(f"{R}/run", json={"as_of": str(DAY), "mode": "auto"}, headers=ada).json()
    n = len(run["actions"])
    p1 = c.get(f"{R}/actions?page=1&page_size=2", headers=ada).json()
    p2 = c.get(f"{R}/actions?page=2&page_size=2", headers=ada).json()
    assert p1["total"] == n and len(p1["items"]) == 2
    ids = [x["action_id"] for x in p1["items"] + p2["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    one = run["actions"][0]
    hit = c.get(f"{R}/actions", params={"entity_id": one["entity_id"]}, headers=ada).json()
    assert one["action_id"] in [x["action_id"] for x in hit["items"]]
    assert c.get(f"{R}/actions?level=campaign", headers=ada).json()["total"] == 0
    assert c.get(f"{R}/actions?start=2024-03-12", headers=ada).json()["total"] == 0
    assert c.get(f"{R}/actions?status=nonsense", headers=ada).status_code == 422
    act = c.get(f"{R}/activity", headers=ada).json()
    assert act["per_day"] == [{"day": str(DAY), "action": "set_bid", "n": n}]
    assert act["per_weekday"] == [{"weekday": 0, "action": "set_bid", "n": n}]
    eff = c.get(f"{R}/effectiveness?kpi=spend&horizon=7", headers=ada).json()
    assert eff["rules"][0]["rule_id"] == "raise" and eff["rules"][0]["actions"] == n
    # bulk files: absolute new values that parse back to the same changes
    r = c.get(f"{R}/export?format=google_ads_editor&run_id={run['run_id']}", headers=ada)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    google = [x for x in run["actions"] if x["entity"]["platform"] == "google_ads"]
    assert int(r.headers["x-spendlab-exported"]) == len(google) > 0
    out = tmp_path / "export-check"
    zipfile.ZipFile(io.BytesIO(r.content)).extractall(out)
    changes = read_export(out)
    assert sorted(float(ch.value) for ch in changes) == sorted(x["new_value"] for x in google)
    undo_vals = read_export(out, undo=True)
    assert sorted(float(ch.value) for ch in undo_vals) == sorted(x["old_value"] for x in google)


def test_backtest_runs_as_a_job_with_progress(app, c):
    ana = login(c, "ana")
    r = c.post(
        f"{R}/backtest", json={"spec": RAISE, "end": str(DAY), "days": 3, "kpi": "spend"},
        headers=ana,
    )  # fmt: skip
    assert r.status_code == 202
    job = app.state.spendlab.jobs.wait(r.json()["job_id"], timeout=120)
    assert job["status"] == "succeeded" and job["progress"] == 1.0, job
    assert job["kind"] == "rules_backtest" and job["created_by"] == "ana"
    with app.state.spendlab.workspaces.warehouse("demo") as wh:
        want = pipeline.backtest(wh, parse_rules([RAISE]), end=DAY, days=3, kpi="spend")
    got = job["result"]["actions"]
    assert len(got) == len(want) > 0
    assert sorted((x["as_of"], x["entity_id"]) for x in got) == sorted(
        (str(d), e) for d, e in zip(want.as_of, want.entity_id, strict=True)
    )
    polled = c.get(f"/api/v1/jobs/{r.json()['job_id']}", headers=login(c, "vic")).json()
    assert polled["status"] == "succeeded"


def test_hostile_rule_text_is_data(app, c):
    ana = login(c, "ana")
    evil = 'x\'); DROP TABLE rule_actions; -- \u202e\u2603 "quoted" ${jndi} {{7*7}}'
    spec = {
        "id": "evil-1",
        "name": evil,
        "description": evil * 3,
        "scope": {"level": "keyword", "campaign_name": ["*' OR '1'='1*"], "labels": [evil]},
        "conditions": {"kpi": "clicks", "window": {"days": 7}, "op": ">=", "value": 0},
        "action": {"type": "label", "label": evil},
        "notify": [evil],
    }
    made = c.post(R, json={"spec": spec}, headers=ana)
    assert made.status_code == 201, made.text
    got = c.get(f"{R}/evil-1", headers=ana).json()["spec"]
    assert got["name"] == evil and got["scope"]["labels"] == [evil] and got["notify"] == [evil]
    prev = c.post(f"{R}/preview", json={"rule_ids": ["evil-1"], "as_of": str(DAY)}, headers=ana)
    assert prev.status_code == 200 and prev.json()["actions"] == []
    run = c.post(f"{R}/run", json={"as_of": str(DAY)}, headers=ana)
    assert run.status_code == 200
    assert c.get(f"{R}/actions", headers=ana).status_code == 200  # the table is still there
    for bad in ("x' OR '1'='1", "..%2F..%2Fetc", "a" * 101):
        assert c.get(f"{R}/{bad}", headers=ana).status_code in (404, 422)
    reserved = c.post(R, json={"spec": {**spec, "id": "queue"}}, headers=ana)
    assert reserved.status_code == 400 and "pick another id" in reserved.json()["error"]["message"]
    bad_id = c.post(R, json={"spec": {**spec, "id": "a'b"}}, headers=ana)
    assert bad_id.status_code == 422 and bad_id.json()["error"]["issues"][0]["column"] == "id"
