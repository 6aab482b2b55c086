"""Hypothesis fuzzing of two readers through ``ingest_file``: whatever bytes arrive, the answer is
a loaded file or a ``DataError`` (``SourceFormatError``, ``ValidationError``), never another
exception, and a refused file writes nothing (no rows, no load record).

Inputs are real fixture files with random edits (bytes inserted, deleted, replaced by the
characters the formats care about), plus arbitrary bytes. Derandomized like the rest of the suite
(tests/conftest.py); ``SPENDLAB_FUZZ=N`` explores N random inputs per reader instead.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendlab.data.ingest import ingest_file
from spendlab.data.warehouse import Warehouse
from spendlab.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = int(os.environ.get("SPENDLAB_FUZZ", "30"))
# the characters CSV dialects, localized numbers and Google's exports give meaning to
SPECIAL = [b",", b";", b"\t", b'"', b"\n", b"\r\n", b"\x00", b"-", b"--", b".", b" ", b"%"]
SPECIAL += [b"\xff", b"\xef\xbb\xbf", b"Total: ", b"1e309", b"9" * 25, b"\xe2\x80\x93", b"\xc2\xa0"]


def _edited(base: bytes) -> st.SearchStrategy[bytes]:
    edit = st.tuples(
        st.floats(0, 1),
        st.sampled_from(["insert", "delete", "replace"]),
        st.one_of(st.sampled_from(SPECIAL), st.binary(max_size=8)),
        st.integers(1, 40),
    )

    def apply(edits: list[tuple[float, str, bytes, int]]) -> bytes:
        data = bytearray(base)
        for where, kind, payload, span in edits:
            at = int(where * len(data))
            if kind == "insert":
                data[at:at] = payload
            elif kind == "delete":
                del data[at : at + span]
            else:
                data[at : at + len(payload)] = payload
        return bytes(data)

    return st.lists(edit, min_size=1, max_size=6).map(apply)


def _inputs(*fixtures: Path) -> st.SearchStrategy[bytes]:
    bases = [_edited(p.read_bytes()) for p in fixtures]
    return st.one_of(*bases, st.binary(max_size=400))


def _snapshot(wh: Warehouse) -> tuple[Any, ...]:
    return tuple((t.name, t.rows) for t in wh.list_tables()), len(wh.loads())


def _fuzz(source: str, options: dict[str, Any], data: st.SearchStrategy[bytes]) -> dict[str, int]:
    """Feed ``data`` to ``source`` on one fresh workspace; counts of each outcome."""
    outcomes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp, Warehouse.init(Path(tmp) / "ws") as wh:
        path = Path(tmp) / "input.csv"

        @given(content=data)
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def check(content: bytes) -> None:
            path.write_bytes(content)
            before = _snapshot(wh)
            try:
                ingest_file(wh, path, source, options)
            except DataError as e:
                assert str(e), "an error says what is wrong"
                assert _snapshot(wh) == before, "a refused file wrote something"
                outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
                return
            outcomes["loaded"] = outcomes.get("loaded", 0) + 1

        check()
    return outcomes


def test_google_ads_ui_reader_on_arbitrary_bytes():
    files = sorted((FIXTURES / "google_ads_ui").glob("*.csv"))
    outcomes = _fuzz("google_ads_ui", {}, _inputs(*files))
    # both ends were reached: some edited files still load, some are refused
    assert outcomes.get("loaded", 0) > 0 and sum(outcomes.values()) > outcomes["loaded"], outcomes


def test_generic_csv_reader_on_arbitrary_bytes():
    options = {"table": "outcomes", "wide": "Revenue,Units", "map": "date=Week"}
    outcomes = _fuzz("generic", options, _inputs(FIXTURES / "generic" / "mmm_weekly_wide.csv"))
    assert outcomes.get("loaded", 0) > 0 and sum(outcomes.values()) > outcomes["loaded"], outcomes
