"""Large files: in-memory readers refuse files over the limit with the fix; streaming readers
have no limit (they never load the file into Python)."""

from pathlib import Path

import pytest

from spendlab.data.ingest import ingest_file
from spendlab.errors import SourceFormatError

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_in_memory_reader_refuses_a_file_over_the_limit(workspace, monkeypatch):
    meta = next((FIXTURES / "meta").glob("*.csv"))
    monkeypatch.setenv("SPENDLAB_MAX_IN_MEMORY_BYTES", "100")
    with pytest.raises(SourceFormatError, match="limit") as e:
        ingest_file(workspace, meta, "meta")
    assert "SPENDLAB_MAX_IN_MEMORY_BYTES" in e.value.issue.fix
    assert workspace.table("ad_performance").count().execute() == 0


def test_streaming_reader_ignores_the_in_memory_limit(workspace, monkeypatch):
    monkeypatch.setenv("SPENDLAB_MAX_IN_MEMORY_BYTES", "100")
    r = ingest_file(workspace, FIXTURES / "google_ads_api" / "keywords.csv", "google_ads_api")
    assert r.added == 4
