"""The loader's validation and idempotency, independent of any reader (frames in, rows out)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendlab.data.ingest import ingest_frames
from spendlab.data.schema import pandera_schema
from spendlab.errors import SourceFormatError, ValidationError


def perf(n=3, **cols):
    base = {
        "date": pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d"),
        "platform": "google_ads",
        "level": "campaign",
        "account_id": "123",
        "campaign_id": "c1",
        "currency": "USD",
        "impressions": 100,
        "clicks": 10,
        "spend": 12.5,
        "conversions": 1.0,
        "conversion_value": 40.0,
    }
    base.update(cols)
    return pd.DataFrame(base)


def rejected(workspace, frame, table="ad_performance"):
    with pytest.raises(ValidationError) as e:
        ingest_frames(workspace, {table: frame})
    assert workspace.table(table).count().execute() == 0, "a rejected load wrote rows"
    return e.value.issues


@pytest.mark.parametrize(
    ("column", "values", "problem", "value", "row"),
    [
        ("spend", [1.0, -3.0, 2.0], "spend is negative", "-3.0", 2),
        ("clicks", ["1", "2", "ten"], "clicks is not a valid whole number", "ten", 3),
        ("clicks", ["1", "2.5", "3"], "clicks is not a valid whole number", "2.5", 2),
        (
            "date",
            ["2024-01-01", "2024-13-01", "2024-01-03"],
            "date is not a valid date",
            "2024-13-01",
            2,
        ),
        ("currency", ["USD", "USD", "USDD"], "not an ISO 4217", "USDD", 3),
        ("spend", [1.0, 2.0, 1e15], "implausible", "1000000000000000.0", 3),
        ("spend", [1.0, np.inf, 2.0], "not a finite number", None, 2),
        ("device", ["mobile", "phone", "desktop"], "not an allowed value", "phone", 2),
        ("platform", ["google_ads", None, "google_ads"], "platform is empty", None, 2),
    ],
)
def test_bad_values_are_rejected_with_row_column_value_and_fix(
    workspace, column, values, problem, value, row
):
    issues = rejected(workspace, perf(**{column: values}))
    bad = [i for i in issues if i.column == column]
    assert bad, issues
    i = bad[0]
    assert problem in i.problem and i.fix
    assert i.row == row  # frames are numbered from 1
    if value is not None:
        assert i.value == value


def test_missing_required_column_names_it(workspace):
    with pytest.raises(SourceFormatError, match="date"):
        ingest_frames(workspace, {"ad_performance": perf().drop(columns="date")})


def test_duplicate_keys_name_both_rows(workspace):
    df = perf(4, date=["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-03"])
    issues = rejected(workspace, df)
    dup = [i for i in issues if "duplicate key" in i.problem][0]
    assert "rows 1 and 3" in dup.problem and dup.count == 2


def test_skip_mode_loads_good_rows_and_reports_the_rest(workspace):
    df = perf(
        4,
        spend=[1.0, -1.0, 2.0, 3.0],
        date=["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-03"],
    )
    r = ingest_frames(workspace, {"ad_performance": df}, on_error="skip")
    assert (r.read, r.added, r.rejected) == (4, 1, 3)
    assert workspace.table("ad_performance").spend.to_list() == [1.0]
    assert {i.column for i in r.issues} == {"spend", "date"}


def test_mixed_currencies_need_rates_then_convert(workspace):
    df = perf(currency=["USD", "EUR", "EUR"], spend=[10.0, 10.0, 10.0])
    issues = rejected(workspace, df)
    assert "no EUR->USD rate" in issues[0].problem and "fx_rates" in issues[0].fix
    rates = pd.DataFrame(
        {"date": ["2024-01-02", "2024-01-03"], "currency": "EUR", "rate": [1.10, 1.20]}
    )
    ingest_frames(workspace, {"fx_rates": rates})
    ingest_frames(workspace, {"ad_performance": df})
    t = workspace.table("ad_performance").order_by("date").to_pandas()
    assert t.spend.round(9).tolist() == [10.0, 11.0, 12.0]
    assert t.fx_rate.tolist() == [1.0, 1.1, 1.2]
    assert t.conversion_value.round(9).tolist() == [40.0, 44.0, 48.0]


def test_empty_frame_is_a_warning_not_a_crash(workspace):
    r = ingest_frames(workspace, {"ad_performance": perf().iloc[:0]})
    assert r.added == 0 and "no ad_performance rows" in r.issues[0].problem


def test_unknown_columns_are_reported_as_ignored(workspace):
    r = ingest_frames(workspace, {"ad_performance": perf(foo=1)})
    assert r.added == 3
    assert any("foo" in i.problem and i.severity == "warning" for i in r.issues)


def test_defaults_fill_missing_optional_columns(workspace):
    ingest_frames(workspace, {"ad_performance": perf().drop(columns=["clicks"])})
    t = workspace.table("ad_performance").to_pandas()
    assert (t.clicks == 0).all() and (t.keyword_id == "").all() and (t.fx_rate == 1.0).all()


def test_pandera_schema_agrees_with_the_loader_on_a_bad_frame():
    import pandera.errors

    schema = pandera_schema("outcomes")
    good = pd.DataFrame(
        {"date": ["2024-01-01"], "geo": ["national"], "kpi": ["revenue"], "value": [1.0]}
    )
    schema.validate(good)
    with pytest.raises(pandera.errors.SchemaError):
        schema.validate(good.assign(kpi=[None]))


rows = st.lists(
    st.tuples(
        st.integers(0, 30),
        st.sampled_from(["revenue", "units", "ünïcode'\";--"]),
        st.floats(-1e6, 1e6, allow_nan=False),
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=rows, second=rows)
def test_loading_is_idempotent_and_last_write_wins(workspace, first, second):
    def frame(rs):
        return pd.DataFrame(
            {
                "date": [
                    (pd.Timestamp("2024-01-01") + pd.Timedelta(days=d)).strftime("%Y-%m-%d")
                    for d, _, _ in rs
                ],
                "kpi": [k for _, k, _ in rs],
                "value": [v for _, _, v in rs],
            }
        )

    ws = workspace
    ws.con.raw_sql("DELETE FROM outcomes")
    a = ingest_frames(ws, {"outcomes": frame(first)})
    again = ingest_frames(ws, {"outcomes": frame(first)})
    assert (again.added, again.replaced, again.unchanged) == (0, 0, len(first))
    b = ingest_frames(ws, {"outcomes": frame(second)})
    expected = {(d, k): v for d, k, v in first} | {(d, k): v for d, k, v in second}
    got = ws.table("outcomes").to_pandas()
    assert len(got) == len(expected)
    keys_first = {(d, k) for d, k, _ in first}
    assert b.added == len({(d, k) for d, k, _ in second} - keys_first)
    assert b.added + b.replaced + b.unchanged == len(second)
    lookup = {
        ((pd.Timestamp(r.date) - pd.Timestamp("2024-01-01")).days, r.kpi): r.value
        for r in got.itertuples()
    }
    assert lookup == expected
    assert a.added == len(first)
