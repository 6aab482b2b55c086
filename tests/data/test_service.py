"""The data service: an upload is kept under the workspace's uploads/ folder and loaded in one
transaction; a dry run or a rejected file leaves no file and no rows; options as JSON text."""

from __future__ import annotations

from pathlib import Path

import pytest

from spendlab.data.service import ingest_upload, parse_options, safe_name
from spendlab.errors import ConfigError, ValidationError
from spendlab.workspace import Workspace

from ..conftest import FIXTURES

GOOD = FIXTURES / "google_ads_api" / "keywords.csv"
BAD = FIXTURES / "google_ads_ui" / "negative_cost.csv"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws", currency="USD", name="shop")


def _rows(ws: Workspace) -> int:
    with ws.warehouse(read_only=True) as wh:
        return int(wh.table("ad_performance").count().execute())


def _uploads(ws: Workspace) -> list[Path]:
    return sorted(p.relative_to(ws.path) for p in (ws.path / "uploads").rglob("*") if p.is_file())


def test_upload_is_kept_and_loaded(ws):
    with GOOD.open("rb") as f:  # a stream, read in chunks
        report = ingest_upload(ws, "../../keywords.csv", f, "google_ads_api")
    assert report["workspace"] == "shop" and report["file"] == "keywords.csv"
    assert report["rows"]["added"] == 4 and _rows(ws) == 4
    (kept,) = _uploads(ws)
    assert kept.parts[0] == "uploads" and kept.name == "keywords.csv"
    assert (ws.path / kept).read_bytes() == GOOD.read_bytes()
    # bytes work too; the same file again adds nothing
    again = ingest_upload(ws, "keywords.csv", GOOD.read_bytes(), "google_ads_api", {})
    assert again["rows"]["added"] == 0 and again["rows"]["unchanged"] == 4 and _rows(ws) == 4


def test_dry_runs_and_rejected_files_leave_nothing(ws):
    report = ingest_upload(ws, "k.csv", GOOD.read_bytes(), "google_ads_api", dry_run=True)
    assert report["dry_run"] is True and _rows(ws) == 0 and _uploads(ws) == []
    with pytest.raises(ValidationError) as err:
        ingest_upload(ws, "negative_cost.csv", BAD.read_bytes(), "google_ads_ui")
    assert err.value.issues[0].row == 5 and err.value.issues[0].column == "spend"
    assert _rows(ws) == 0 and _uploads(ws) == []
    with pytest.raises(ConfigError, match="unknown source"):
        ingest_upload(ws, "k.csv", b"a,b\n", "nope")
    assert _uploads(ws) == []


def test_options_and_names():
    assert parse_options(None) == {} and parse_options("  ") == {}
    assert parse_options('{"table": "outcomes"}') == {"table": "outcomes"}
    assert parse_options({"table": "outcomes"}) == {"table": "outcomes"}
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_options("{not json")
    with pytest.raises(ConfigError, match="JSON object"):
        parse_options("[1]")
    assert safe_name("C:\\tmp\\..\\.hidden report.csv") == "hidden_report.csv"
    assert safe_name(None) == "upload" and safe_name("...") == "upload"
