"""Several workspaces in one store (SPENDLAB_STORE_URL): the rules domain's rows are keyed by
the workspace's stable id, so each workspace sees only its own rules, versions, settings, runs,
queue and log; approve, reject and undo never touch another workspace; re-run idempotency is per
workspace; the REST routes and the allocator's log land in the right workspace. On SQLite and on
PostgreSQL (the ``store`` fixture: the migrated schema), plus the 0006 upgrade of old rows. And
one workspace's own store: a rule the CLI saved is on a server with another store, also after
the folder moved."""

from __future__ import annotations

import shutil
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from spendlab.app.store import open_store
from spendlab.automate import pipeline
from spendlab.automate import service as svc
from spendlab.automate import store as rstore
from spendlab.automate.rules import parse_rules
from spendlab.config import Settings
from spendlab.core.actions import Action, ActionStatus
from spendlab.data.warehouse import Warehouse
from spendlab.plan.curvesets import save_curve_set
from spendlab.store import _alembic_config, head_revision
from spendlab.workspace import Workspace

from .conftest import login, register

DAY = date(2024, 3, 11)  # the demo data ends 2024-03-10
RAISE = {
    "id": "raise",
    "scope": {"level": "keyword"},
    "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.0},
    "action": {"type": "bid", "mode": "percent", "value": 10, "max": 50},
}


@pytest.fixture
def two(demo_template, tmp_path, store_url):
    """Two copies of the demo workspace (same entity ids, each its own id) in one store."""
    shared = Settings(store_url=store_url)
    handles = []
    for name in ("a", "b"):
        shutil.copytree(demo_template, tmp_path / name)
        handles.append(Workspace.open(tmp_path / name, settings=shared))
    return handles


def _bids(wh: Warehouse, acts: list[Action]) -> list[float | None]:
    t = wh.table("entities").filter(lambda t: t.level == "keyword")
    got = {
        r["keyword_id"]: r["bid"] for r in t.select("keyword_id", "bid").to_pyarrow().to_pylist()
    }
    return [got[a.entity.keyword_id] for a in acts]


def test_two_workspaces_in_one_store_never_mix(store, two):
    wa_, wb_ = two
    A, B = rstore.RuleStore.of(wa_), rstore.RuleStore.of(wb_)
    assert A.workspace == wa_.id != B.workspace == wb_.id
    assert wa_.store.url == wb_.store.url == store.url  # one database for both
    raise_a, only_a = parse_rules([RAISE, {**RAISE, "id": "only-a"}])
    (raise_b,) = parse_rules([{**RAISE, "action": {**RAISE["action"], "value": 20}}])
    # the same rule id in both, different specs: each has its own version 1
    assert rstore.save_rule(A, raise_a).version == 1
    assert rstore.save_rule(A, only_a).version == 1
    assert rstore.save_rule(B, raise_b).version == 1
    assert rstore.save_rule(B, raise_b).version == 1  # unchanged: no new version
    assert [r.id for r in rstore.active_rules(A)] == ["only-a", "raise"]
    assert [(r.id, r.action.value) for r in rstore.active_rules(B)] == [("raise", 20)]
    assert [v["version"] for v in rstore.rule_versions_of(B, "raise")] == [1]
    assert rstore.rule_version(A, "raise", 1).action.value == 10
    with wa_.warehouse() as wa, wb_.warehouse() as wb:
        ra = pipeline.run_rules(wa, [raise_a], DAY, mode="suggest", rs=A)
        rb = pipeline.run_rules(wb, [raise_b], DAY, mode="suggest", rs=B)
        # idempotency is per workspace: B ran the same rule id and version on the same date
        assert ra.actions and rb.skipped_rules == [] and len(rb.actions) == len(ra.actions)
        again = pipeline.run_rules(wa, [raise_a], DAY, mode="suggest", rs=A)
        assert again.skipped_rules == ["raise"] and again.actions == []
        # each queue and log holds only its own actions
        qa, qb = _ids(A, ActionStatus.PROPOSED), _ids(B, ActionStatus.PROPOSED)
        assert qa == ra.action_ids and qb == rb.action_ids and not set(qa) & set(qb)
        rows_a, total_a = rstore.query_actions(A, limit=1000)
        assert total_a == len(qa) and {i for i, _, _ in rows_a} == set(qa)
        # approving or rejecting B's ids through A does nothing, in the log or the warehouse
        before_b = _bids(wb, rb.actions)
        assert list(pipeline.approve(wa, A, qb)) == [] and pipeline.reject(A, qb) == []
        rstore.set_status(A, qb, ActionStatus.REJECTED)
        assert _ids(B, ActionStatus.PROPOSED) == qb
        # A approves its own: A's warehouse changes, B's does not
        assert list(pipeline.approve(wa, A, qa, approver="ana")) == qa
        assert _bids(wa, ra.actions) == pytest.approx([float(a.new_value) for a in ra.actions])
        assert _bids(wb, rb.actions) == before_b
        # undoing the rule in B finds nothing executed there; in A it restores A's old values
        assert list(pipeline.undo(wb, B, rule_id="raise")) == []
        assert _ids(A, ActionStatus.EXECUTED) == qa
        assert sorted(pipeline.undo(wa, A, rule_id="raise")) == qa
        assert _bids(wa, ra.actions) == pytest.approx([float(a.old_value) for a in ra.actions])
        assert _ids(B, ActionStatus.PROPOSED) == qb
        assert pipeline.history(B).executed == []  # cooldowns read only B's executed actions
    # runs, settings and soft delete per workspace
    assert [r["run_id"] for r in rstore.list_runs(B)] == [rb.run_id]
    assert {r["run_id"] for r in rstore.list_runs(A)} == {ra.run_id, again.run_id}
    rstore.set_rule_settings(A, "raise", by="ada", deleted=True)
    rstore.set_rule_settings(B, "raise", by="ada", mode="auto")
    assert [r.id for r in rstore.active_rules(A)] == ["only-a"]
    assert [r.id for r in rstore.active_rules(B)] == ["raise"]
    assert rstore.rule_settings_of(B)["raise"]["mode"] == "auto"
    assert rstore.rule_settings_of(A)["raise"]["mode"] == "suggest"
    # rows from before the upgrade (workspace '') are nobody's
    legacy = rstore.RuleStore(store.engine, "")
    assert rstore.active_rules(legacy) == [] and rstore.select_actions(legacy) == []
    # the service reads the same rows through the handle
    assert [r["id"] for r in svc.list_rules(wa_)] == ["only-a"]
    assert [(r["id"], r["mode"]) for r in svc.list_rules(wb_)] == [("raise", "auto")]
    assert [r["run_id"] for r in svc.runs(wb_)] == [rb.run_id]


def _ids(rs: rstore.RuleStore, status: ActionStatus) -> list[int]:
    return [i for i, _, _ in rstore.select_actions(rs, status=[status.value])]


def test_rest_routes_of_one_workspace_never_show_the_others(app_factory, demo_template, tmp_path):
    app = app_factory(store_url=f"sqlite:///{tmp_path / 'shared.db'}")  # one store for all
    shutil.copytree(demo_template, tmp_path / "other")
    register(app.state.spendlab, "other", tmp_path / "other")
    with app.state.spendlab.workspaces.warehouse("other") as wh:  # a curve set: recommendations
        t = wh.table("ad_performance")
        ids = sorted(t.filter(t.campaign_id != "").campaign_id.to_pandas().unique().tolist())
    curves = pd.DataFrame(
        {"channel": ["search"], "type": ["hill"], "beta": [900.0], "half": [150.0], "s": [0.9]}
    )
    other = app.state.spendlab.workspaces.handle("other")
    meta = {"members": {"search": ids}}
    save_curve_set(other.store.engine, other.id, "manual", curves, "day", "manual", meta)
    a, b = "/api/v1/workspaces/demo/rules", "/api/v1/workspaces/other/rules"
    with TestClient(app) as c:
        ana = login(c, "ana")
        for r in (a, b):
            assert c.post(r, json={"spec": RAISE}, headers=ana).status_code == 201
        run = {"as_of": str(DAY), "mode": "suggest"}
        ra = c.post(f"{a}/run", json=run, headers=ana).json()
        rb = c.post(f"{b}/run", json=run, headers=ana).json()
        assert (
            ra["actions"] and rb["skipped_rules"] == [] and len(rb["actions"]) == len(ra["actions"])
        )
        ids_a = sorted(x["action_id"] for x in ra["actions"])
        ids_b = sorted(x["action_id"] for x in rb["actions"])
        queue = c.get(f"{a}/queue?page_size=500", headers=ana).json()
        assert sorted(x["action_id"] for x in queue["items"]) == ids_a
        assert c.get(f"{b}/actions?page_size=500", headers=ana).json()["total"] == len(ids_b)
        assert [x["run_id"] for x in c.get(f"{b}/runs", headers=ana).json()["items"]] == [
            rb["run_id"]
        ]
        # the pending actions of the product API are the workspace's own
        rec = c.get("/api/get_recommendations", params={"workspace": "other"}, headers=ana)
        assert rec.status_code == 200, rec.text
        assert sorted(x["id"] for x in rec.json()["pending_actions"]) == ids_b
        assert rec.json()["pending_total"] == len(ids_b)
        # approving B's ids on A's route executes nothing; A's own ids execute
        res = c.post(f"{a}/queue/approve", json={"ids": ids_b}, headers=ana).json()
        assert res["executed"] == []
        res = c.post(f"{a}/queue/approve", json={"ids": ids_a}, headers=ana).json()
        assert sorted(res["executed"]) == ids_a
        undo = c.post(f"{b}/undo", json={"rule_id": "raise"}, headers=ana).json()
        assert undo["undone"] == []
        assert c.get(f"{b}/queue?page_size=500", headers=ana).json()["total"] == len(ids_b)
        assert c.delete(f"{a}/raise", headers=ana).status_code == 200
        assert c.get(b, headers=ana).json()["total"] == 1


def test_upgrade_keeps_old_rows_under_the_empty_workspace(store_url):
    """0005 -> 0006 on rows written before: they get workspace '', the keys gain it; down and
    up again works."""
    from spendlab.store import make_engine

    engine = make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0005_rule_settings")
    old = sa.MetaData()
    old.reflect(engine, only=["rule_versions", "rule_settings", "rule_actions"])
    with engine.begin() as conn:
        conn.execute(
            old.tables["rule_versions"]
            .insert()
            .values(rule_id="r", version=1, spec="{}", sha256="0" * 64, created_at=sa.func.now())
        )
        conn.execute(old.tables["rule_settings"].insert().values(
            rule_id="r", mode="suggest", updated_at=sa.func.now()))  # fmt: skip
    engine.dispose()
    st = open_store(store_url)  # upgrades to head
    try:
        insp = sa.inspect(st.engine)
        assert insp.get_pk_constraint("rule_versions")["constrained_columns"] == [
            "workspace", "rule_id", "version"]  # fmt: skip
        assert insp.get_pk_constraint("rule_run_dates")["constrained_columns"] == [
            "workspace", "rule_id", "version", "as_of"]  # fmt: skip
        assert insp.get_pk_constraint("rule_settings")["constrained_columns"] == [
            "workspace", "rule_id"]  # fmt: skip
        for t in ("rule_actions", "rule_runs"):
            assert any(ix["column_names"] == ["workspace"] for ix in insp.get_indexes(t))
        with st.engine.connect() as conn:
            rows = conn.execute(sa.select(rstore.rule_versions.c.workspace)).scalars().all()
            assert rows == [""]
        legacy = rstore.RuleStore(st.engine, "")
        assert rstore.rule_settings_of(legacy)["r"]["mode"] == "suggest"
        # the same rule id and version can now exist in another workspace
        (rule,) = parse_rules([{**RAISE, "id": "r"}])
        assert rstore.save_rule(rstore.RuleStore(st.engine, "/w"), rule).version == 1
        with st.engine.begin() as conn:
            conn.execute(sa.delete(rstore.rule_versions).where(
                rstore.rule_versions.c.workspace == "/w"))  # fmt: skip
            command.downgrade(_alembic_config(conn), "0005_rule_settings")
        assert "workspace" not in {
            c["name"] for c in sa.inspect(st.engine).get_columns("rule_versions")
        }
        with st.engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
        with st.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(
                rstore.rule_versions)).scalar() == 1  # fmt: skip
        assert head_revision() == "0009_workspace_grants"
    finally:
        st.close()


def test_allocator_actions_land_in_their_workspace(demo_template, tmp_path, monkeypatch):
    """`spendlab plan allocate` logs into the workspace's rows of a shared store
    (SPENDLAB_STORE_URL); the other workspace neither sees them nor counts them as already
    logged."""
    import json

    from typer.testing import CliRunner

    from spendlab.cli.main import app

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.setenv("SPENDLAB_STORE_URL", url)
    runner = CliRunner()
    logged = {}
    for name in ("a", "b"):
        shutil.copytree(demo_template, tmp_path / name)
        ws = ["--workspace", str(tmp_path / name)]
        r = runner.invoke(app, ["plan", "allocate", *ws, "--date", "2024-03-08", "--json"])
        assert r.exit_code == 0, r.output
        logged[name] = json.loads(r.stdout)["logged"]
    assert logged["a"] and len(logged["b"]) == len(logged["a"])
    assert not set(logged["a"]) & set(logged["b"])
    for name in ("a", "b"):
        r = runner.invoke(app, ["rules", "log", "--workspace", str(tmp_path / name), "--json"])
        assert sorted(x["action_id"] for x in json.loads(r.stdout)) == sorted(logged[name])
    ids_b = list(map(str, logged["b"]))
    r = runner.invoke(
        app, ["rules", "approve", *ids_b, "--workspace", str(tmp_path / "a"), "--json"]
    )
    assert json.loads(r.output)["executed"] == []
    b = Workspace.open(tmp_path / "b")
    assert b.store.url == url
    acts = rstore.select_actions(rstore.RuleStore.of(b))
    assert {a.rule_id for _, a, _ in acts} == {"allocator"}
    assert {a.status for _, a, _ in acts} == {ActionStatus.PROPOSED}
    assert not (tmp_path / "a" / "app.db").exists()  # nothing went to the folder's own store


RULE_V1 = """\
id: cli-raise
scope: {level: keyword}
conditions: {kpi: roas, window: {days: 14}, op: ">", value: 1.0}
action: {type: bid, mode: percent, value: 10, max: 50}
"""


def test_a_rule_saved_by_the_cli_is_on_the_server_also_after_a_move(
    app_factory, demo_ws, tmp_path, monkeypatch
):
    """`spendlab rules save --workspace W` writes into W's own store; a server whose own store
    is another database (and got no store flag) lists the rule and its versions; after the
    folder moves and the server registers the new path, they are all still there."""
    from typer.testing import CliRunner

    from spendlab.cli.main import app as cli

    monkeypatch.delenv("SPENDLAB_STORE_URL", raising=False)
    rule = tmp_path / "rule.yaml"
    for text in (RULE_V1, RULE_V1.replace("value: 10", "value: 20")):
        rule.write_text(text, encoding="utf-8")
        r = CliRunner().invoke(
            cli, ["rules", "save", str(rule), "--workspace", str(demo_ws), "--author", "cli"]
        )
        assert r.exit_code == 0, r.output
    assert "saved cli-raise version 2 (suggest)" in r.output
    assert (demo_ws / "app.db").exists()

    server = app_factory()  # its store: another SQLite file; no SPENDLAB_STORE_URL
    state = server.state.spendlab
    assert state.store.url != state.workspaces.handle("demo").store.url
    rules = "/api/v1/workspaces/demo/rules"

    def seen(c) -> tuple[list, list]:
        h = login(c, "vic")
        listed = c.get(rules, headers=h).json()["items"]
        vers = c.get(f"{rules}/cli-raise/versions", headers=h).json()["items"]
        return (
            [(x["id"], x["version"], x["spec"]["action"]["value"]) for x in listed],
            [(v["version"], v["author"], v["spec"]["action"]["value"]) for v in vers],
        )

    want = ([("cli-raise", 2, 20.0)], [(1, "cli", 10.0), (2, "cli", 20.0)])
    with TestClient(server) as c:
        assert seen(c) == want
        moved = tmp_path / "moved" / "ws"
        moved.parent.mkdir()
        shutil.move(demo_ws, moved)
        state.workspaces.ensure("demo", moved)  # what `spendlab serve -w NEW` does
        assert state.workspaces.get("demo").path == str(moved.resolve())
        assert seen(c) == want
        # the server's run of the rule lands in the moved folder's store, under its id
        run = c.post(
            f"{rules}/run", json={"as_of": str(DAY), "mode": "suggest"}, headers=login(c, "ana")
        )
        assert run.status_code == 200 and run.json()["actions"], run.text
    ws = Workspace.open(moved)
    assert [v["version"] for v in svc.versions(ws, "cli-raise")] == [1, 2]
    assert len(svc.actions(ws, run_id=run.json()["run_id"])) == len(run.json()["actions"])
