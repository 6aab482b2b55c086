import subprocess
import sys
import textwrap
import time

import ibis
import pandas as pd
import pytest

from spendlab.data import warehouse as wmod
from spendlab.data.ingest import ingest_frames
from spendlab.data.schema import LOAD_ID, TABLES
from spendlab.data.warehouse import SCHEMA_VERSION, Warehouse
from spendlab.errors import ConfigError, WorkspaceBusyError, WorkspaceError, WorkspaceNotFoundError


def outcomes(values, start="2024-01-01"):
    days = pd.date_range(start, periods=len(values)).strftime("%Y-%m-%d")
    return pd.DataFrame({"date": days, "kpi": "revenue", "value": values})


def test_init_creates_every_canonical_table_with_its_schema(workspace):
    assert workspace.schema_version() == SCHEMA_VERSION
    for name, spec in TABLES.items():
        t = workspace.table(name)
        assert t.schema() == spec.ibis_schema(), name
        assert t.count().execute() == 0
    assert [t.name for t in workspace.list_tables()] == list(TABLES)


def test_init_refuses_existing_workspace_and_non_empty_folder(tmp_path):
    Warehouse.init(tmp_path / "a").close()
    with pytest.raises(WorkspaceError, match="already a workspace"):
        Warehouse.init(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("x")
    with pytest.raises(WorkspaceError, match="not empty"):
        Warehouse.init(tmp_path / "b")
    with pytest.raises(ConfigError, match="ISO 4217"):
        Warehouse.init(tmp_path / "c", currency="EURO")


def test_open_missing_workspace_says_how_to_create_one(tmp_path):
    with pytest.raises(WorkspaceNotFoundError, match="spendlab init"):
        Warehouse.open(tmp_path / "nope")


def test_reopen_keeps_data_and_unknown_table_is_clear(tmp_path):
    with Warehouse.init(tmp_path / "ws") as wh:
        ingest_frames(wh, {"outcomes": outcomes([1.0, 2.0])})
    with Warehouse.open(tmp_path / "ws", read_only=True) as wh:
        assert wh.table("outcomes").value.sum().execute() == 3.0
        with pytest.raises(KeyError, match="canonical tables"):
            wh.table("nope")
        with pytest.raises(WorkspaceError, match="read-only"):
            ingest_frames(wh, {"outcomes": outcomes([5.0])})


def test_newer_schema_version_is_refused(tmp_path, monkeypatch):
    Warehouse.init(tmp_path / "ws").close()
    monkeypatch.setattr(wmod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(wmod._MIGRATIONS, SCHEMA_VERSION + 1, lambda wh: None)
    Warehouse.open(tmp_path / "ws").close()  # migrates forward
    monkeypatch.undo()
    with pytest.raises(WorkspaceError, match="upgrade SpendLab"):
        Warehouse.open(tmp_path / "ws")


def _hold(path, seconds: float | None = None) -> subprocess.Popen:
    """Another process holding the warehouse read-write until told (or for ``seconds``)."""
    release = f"time.sleep({seconds})" if seconds is not None else "sys.stdin.readline()"
    code = textwrap.dedent(f"""
        import sys, time
        from spendlab.data.warehouse import Warehouse
        wh = Warehouse.open({str(path)!r})
        print("open", flush=True)
        {release}
        wh.close()
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_second_process_waits_its_bound_then_gets_a_clear_error(tmp_path):
    Warehouse.init(tmp_path / "ws").close()
    holder = _hold(tmp_path / "ws")
    try:
        t0 = time.monotonic()
        with pytest.raises(WorkspaceBusyError, match=rf"busy: process {holder.pid} .*0.5 s"):
            Warehouse.open(tmp_path / "ws", wait=0.5)
        assert time.monotonic() - t0 >= 0.5  # it waited before giving up
        with pytest.raises(WorkspaceBusyError, match="SPENDLAB_LOCK_WAIT"):
            Warehouse.open(tmp_path / "ws", read_only=True, wait=0)
    finally:
        holder.communicate("\n", timeout=30)


def test_second_process_gets_its_turn_when_the_holder_finishes(tmp_path):
    Warehouse.init(tmp_path / "ws").close()
    holder = _hold(tmp_path / "ws", seconds=1.0)
    try:
        with Warehouse.open(tmp_path / "ws", wait=60) as wh:  # waits about a second
            assert wh.table("ad_performance").count().execute() == 0
    finally:
        holder.communicate(timeout=30)


def test_upsert_counts_added_replaced_unchanged(workspace):
    r1 = ingest_frames(workspace, {"outcomes": outcomes([1.0, 2.0, 3.0])})
    assert (r1.added, r1.replaced, r1.unchanged) == (3, 0, 0)
    r2 = ingest_frames(workspace, {"outcomes": outcomes([1.0, 2.5, 3.0, 4.0])})
    assert (r2.added, r2.replaced, r2.unchanged) == (1, 1, 2)
    t = workspace.table("outcomes").order_by("date").to_pandas()
    assert t.value.tolist() == [1.0, 2.5, 3.0, 4.0]
    # unchanged rows keep the load that wrote them; replaced and new rows carry the new load
    assert t[LOAD_ID].tolist() == [r1.load_id, r2.load_id, r1.load_id, r2.load_id]
    assert [x["load_id"] for x in workspace.loads()] == [r2.load_id, r1.load_id]


def test_failure_inside_the_write_rolls_everything_back(workspace, monkeypatch):
    ingest_frames(workspace, {"outcomes": outcomes([1.0])})

    def boom(record):
        raise RuntimeError("disk full")

    monkeypatch.setattr(workspace, "log_load", boom)
    frames = {
        "outcomes": outcomes([9.0, 9.0]),
        "controls": outcomes([1.0]).rename(columns={"kpi": "name"}),
    }
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_frames(workspace, frames)
    assert workspace.table("outcomes").value.to_list() == [1.0]
    assert workspace.table("controls").count().execute() == 0
    assert len(workspace.loads()) == 1


def test_dry_run_writes_nothing_but_counts(workspace):
    r = ingest_frames(workspace, {"outcomes": outcomes([1.0, 2.0])}, dry_run=True)
    assert r.added == 2 and r.dry_run
    assert workspace.table("outcomes").count().execute() == 0
    assert workspace.loads() == []


def test_list_tables_reports_rows_and_date_range(workspace):
    ingest_frames(workspace, {"outcomes": outcomes([1.0, 2.0, 3.0], start="2024-02-27")})
    info = {t.name: t for t in workspace.list_tables()}["outcomes"]
    assert (info.rows, str(info.first_date), str(info.last_date)) == (3, "2024-02-27", "2024-02-29")


def test_hostile_strings_are_data(workspace):
    evil = "x'); DROP TABLE outcomes; --"
    df = outcomes([1.0, 2.0])
    df["kpi"] = [evil, 'quote " and \\ backslash ☃']
    ingest_frames(workspace, {"outcomes": df})
    ingest_frames(workspace, {"outcomes": df})
    t = workspace.table("outcomes")
    assert sorted(t.kpi.to_list()) == sorted(df.kpi)
    assert "outcomes" in workspace.con.list_tables()
    assert isinstance(t, ibis.Table)


def test_migration_2_adds_the_language_column_to_an_older_warehouse(tmp_path):
    with Warehouse.init(tmp_path / "ws") as wh:  # make it look like a version-1 workspace
        ingest_frames(wh, {"ad_performance": _ap_rows()})
        wh.con.raw_sql("ALTER TABLE ad_performance DROP COLUMN language")
        wh._delete_where(wmod.META, wmod.sge.column("key").eq(wmod.sge.convert("schema_version")))
        wh.con.insert(wmod.META, ibis.memtable({"key": ["schema_version"], "value": ["1"]}))
        assert "language" not in wh.table("ad_performance").columns
    with Warehouse.open(tmp_path / "ws") as wh:
        assert wh.schema_version() == SCHEMA_VERSION >= 2
        got = wh.table("ad_performance").schema()
        assert dict(got.items()) == dict(TABLES["ad_performance"].ibis_schema().items())
        ingest_frames(wh, {"ad_performance": _ap_rows(language="es", day="2024-01-02")})
        t = wh.table("ad_performance").order_by("date").to_pandas()
        assert t.language.tolist() == [None, "es"] and t.clicks.tolist() == [3, 3]


def _ap_rows(day="2024-01-01", **extra):
    row = {"date": day, "platform": "google_ads", "level": "campaign", "account_id": "1"}
    row |= {"campaign_id": "c1", "currency": "USD", "impressions": 10, "clicks": 3}
    return pd.DataFrame([row | extra])
