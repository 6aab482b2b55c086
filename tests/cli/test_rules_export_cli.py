"""``spendlab rules export``: the JSON of ``rules run --json`` in, bulk + undo files out."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import typer
from typer.testing import CliRunner

from spendlab.automate.connectors import read_export
from spendlab.cli.rules_export import register_export
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    rules = typer.Typer()
    register_export(rules)
    app.add_typer(rules, name="rules")
    return app


def _write(tmp_path: Path) -> Path:
    d = date(2026, 11, 2)
    acts = [
        Action(
            EntityRef("google_ads", Level.KEYWORD, "1", "2", "3", "4"),
            ActionKind.SET_BID,
            Decimal("1.00"),
            Decimal("1.25"),
            "roas up",
            d,
        ),
        Action(
            EntityRef("google_ads", Level.CAMPAIGN, "1", "2"),
            ActionKind.PAUSE,
            "enabled",
            "paused",
            "spend, no conversions",
            d,
        ),
        Action(
            EntityRef("meta", Level.CAMPAIGN, "9", "8"),
            ActionKind.SET_BUDGET,
            Decimal(10),
            Decimal(12),
            "x",
            d,
        ),
    ]
    p = tmp_path / "actions.json"
    p.write_text(json.dumps([a.to_dict() for a in acts]), encoding="utf-8")
    return p


def test_export_json(tmp_path: Path) -> None:
    src = _write(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(
        _app(),
        ["rules", "export", str(src), "--format", "google_ads_editor", "--out", str(out), "--json"],
    )
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["exported"] == 2 and len(payload["skipped"]) == 1
    assert payload["files"][0]["changes"] == "google_ads_editor_1_changes.csv"
    changes = read_export(out)
    assert [(c.kind, c.value) for c in changes] == [
        (ActionKind.SET_BID, Decimal("1.25")),
        (ActionKind.PAUSE, "paused"),
    ]
    assert [(c.kind, c.value) for c in read_export(out, undo=True)] == [
        (ActionKind.ENABLE, "enabled"),
        (ActionKind.SET_BID, Decimal("1.00")),
    ]


def test_export_errors_map_to_exit_codes(tmp_path: Path) -> None:
    src = _write(tmp_path)
    r = runner.invoke(
        _app(),
        ["rules", "export", str(src), "--format", "tiktok", "--out", str(tmp_path), "--json"],
    )
    assert r.exit_code == 5 and "unknown bulk format" in json.loads(r.stdout)["error"]["message"]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    r = runner.invoke(
        _app(), ["rules", "export", str(bad), "--format", "meta", "--out", str(tmp_path), "--json"]
    )
    assert r.exit_code == 3 and json.loads(r.stdout)["error"]["type"] == "SourceFormatError"


def test_export_human_output(tmp_path: Path) -> None:
    src = _write(tmp_path)
    r = runner.invoke(
        _app(), ["rules", "export", str(src), "--format", "meta", "--out", str(tmp_path / "m")]
    )
    assert r.exit_code == 0, r.output
    assert "Exported 1 actions" in r.output and "meta_9_undo.csv" in r.output


def test_export_with_workspace_names_and_currency(tmp_path: Path) -> None:
    import ibis

    from spendlab.data.schema import table_spec
    from spendlab.data.warehouse import Warehouse

    ws = tmp_path / "ws"
    spec = table_spec("entities")
    rows = []
    for level, ids, name in (
        ("campaign", ("1", "2", "", ""), "=Brand"),
        ("ad_group", ("1", "2", "3", ""), "Shoes, red"),
        ("keyword", ("1", "2", "3", "4"), "red shoes"),
    ):
        r = dict.fromkeys(spec.names)
        r.update(
            platform="google_ads",
            level=level,
            account_id=ids[0],
            campaign_id=ids[1],
            ad_group_id=ids[2],
            keyword_id=ids[3],
            ad_id="",
            name=name,
            status="enabled",
            currency="EUR",
            fx_rate=1.25,
            match_type="Phrase",
        )
        rows.append(r)
    schema = ibis.schema({c.name: c.ibis_type for c in spec.columns})
    with Warehouse.init(ws, currency="USD") as wh, wh.transaction():
        expr = ibis.memtable({c: [r[c] for r in rows] for c in spec.names}, schema=schema)
        wh.upsert("entities", expr, "seed", rows=len(rows))
    src = _write(tmp_path)
    out = tmp_path / "out"
    args = ["rules", "export", str(src), "--format", "google_ads_editor", "--out", str(out)]
    r = runner.invoke(_app(), [*args, "--workspace", str(ws), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["warnings"] == []
    bid = read_export(out)[0]
    assert bid.value == Decimal("1.00")  # 1.25 USD / 1.25 = 1.00 EUR
    assert bid.names == {
        "campaign": "=Brand",
        "ad_group": "Shoes, red",
        "keyword": "red shoes",
        "match_type": "Phrase",
    }
