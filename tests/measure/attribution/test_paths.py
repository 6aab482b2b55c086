from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spendlab.errors import DataError
from spendlab.measure.attribution import from_frame, read_paths


def table(paths, conv=None, nulls=None, value=None):
    n = len(paths)
    data = {"path": paths, "conversions": conv or [1] * n, "nulls": nulls or [0] * n}
    if value is not None:
        data["value"] = value
    return pd.DataFrame(data)


def test_parses_and_aggregates_duplicate_paths():
    p = from_frame(table(["a > b", "b", "a > b"], [1, 2, 3], [4, 5, 6], [10, 20, 30]))
    f = p.to_frame().set_index("path")
    assert f.loc["a > b", "conversions"] == 4 and f.loc["a > b", "nulls"] == 10
    assert f.loc["a > b", "value"] == 40
    assert p.channels == ("a", "b") and p.total_conversions == 6


def test_merge_adds_counts():
    a = from_frame(table(["a > b", "c"], [1, 2], [3, 4]))
    b = from_frame(table(["c", "b"], [5, 1], [0, 7]))
    f = a.merge(b).to_frame().set_index("path")
    assert f.loc["c", "conversions"] == 7 and f.loc["b", "nulls"] == 7
    assert f["conversions"].sum() == 9


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (table(["a > b", ""]), "row 3: path '' is empty"),
        (table(["a > b", "a >  > b"]), "empty step"),
        (table(["a>b", "c"]), "uses separator '>'"),
        (table(["a -> b", "c"]), "uses separator"),
        (table(["a|b", "c|d", "e"]), "contain '|'"),
        (table(["a", "b"], [1, -2]), "row 3: conversions = .-2. is not a number"),
        (table(["a", "b"], [1, 1], [0, float("nan")]), "nulls"),
        (table(["a", "b"], [1, 0], [0, 1], [5.0, 3.0]), "value but no conversions"),
        (pd.DataFrame({"path": ["a"]}), "lacks column"),
    ],
)
def test_malformed_tables_get_clear_errors(frame, message):
    with pytest.raises(DataError, match=message):
        from_frame(frame)


def test_a_10000_step_path_is_rejected_with_the_limit():
    long = " > ".join(["a", "b"] * 5000)
    with pytest.raises(DataError, match=r"10,000 touches \(limit 1,000\)"):
        from_frame(table(["a", long]))


def test_read_csv_and_parquet(tmp_path):
    f = table(["a > b", "b"], [1.5, 2], [3, 4], [10, 20])
    f.to_csv(tmp_path / "p.csv", index=False)
    f.to_parquet(tmp_path / "p.parquet")
    for name in ("p.csv", "p.parquet"):
        p = read_paths(tmp_path / name)
        assert p.total_conversions == 3.5 and p.total_value == 30
    bad = tmp_path / "bad.csv"
    bad.write_text("path,conversions,nulls\na > b,1,0\n,1,0\n")
    with pytest.raises(DataError, match="bad.csv: row 3"):
        read_paths(bad)
    with pytest.raises(DataError, match="does not exist"):
        read_paths(tmp_path / "missing.csv")


def test_flat_layout():
    p = from_frame(table(["a > b > a", "c"]))
    assert p.lengths.tolist() == [3, 1]
    assert p.position.tolist() == [0, 1, 2, 0]
    assert np.array_equal(p.channel_sets(), [0b011, 0b100])


def test_raw_and_aggregated_tables_give_the_same_counts():
    raw = table(["a > b", "b", "a > b", "c > a", "b"], [1, 0, 0, 1, 1], [0, 1, 1, 0, 0])
    agg = raw.groupby("path", as_index=False)[["conversions", "nulls"]].sum()
    one, two = from_frame(raw).to_frame(), from_frame(agg).to_frame()
    merged = one.merge(two, on="path", suffixes=("_raw", "_agg"))
    assert len(merged) == len(one) == len(two) == 3
    assert (merged["conversions_raw"] == merged["conversions_agg"]).all()
    assert (merged["nulls_raw"] == merged["nulls_agg"]).all()


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["a > b", "b", "b"], dtype="string[pyarrow]"),
        pd.Categorical(["a > b", "b", "b"]),
        pd.Series(["a > b", "b", "b"], dtype=object),
    ],
)
def test_path_column_dtypes(column):
    p = from_frame(pd.DataFrame({"path": column, "conversions": [1, 1, 1]}))
    assert p.to_frame().set_index("path")["conversions"].to_dict() == {"a > b": 1, "b": 2}
    numbers = from_frame(pd.DataFrame({"path": [1, 2, 1], "conversions": [1, 1, 2]}))
    assert numbers.channels == ("1", "2") and numbers.total_conversions == 4
