from pathlib import Path

import pytest

from spendlab.data.ingest import ingest_file
from spendlab.data.sources import get_source
from spendlab.errors import SourceFormatError, ValidationError

WIDE = Path(__file__).parents[1] / "fixtures" / "generic" / "mmm_weekly_wide.csv"


def load(ws, path, **options):
    return ingest_file(ws, path, "generic", options)


def test_wide_outcomes_become_kpi_rows(workspace):
    r = load(workspace, WIDE, table="outcomes", wide="Revenue,Units", map="date=Week")
    assert r.added == 6
    t = workspace.table("outcomes").to_pandas()
    assert sorted(t.kpi.unique()) == ["Revenue", "Units"]
    assert t[t.kpi == "Revenue"].value.sum() == pytest.approx(31320.75)


def test_mapping_and_constants(workspace):
    r = load(
        workspace,
        WIDE,
        table="controls",
        map="date=Week,value=Price",
        **{"const.name": "price", "const.geo": "DE"},
    )
    assert r.added == 3
    t = workspace.table("controls").to_pandas()
    assert set(t.name) == {"price"} and set(t.geo) == {"DE"}


def test_null_cell_in_wide_layout_is_reported_not_dropped(workspace, tmp_path):
    f = tmp_path / "gap.csv"
    f.write_text(WIDE.read_text().replace("11020.00", ""))
    with pytest.raises(ValidationError) as e:
        load(workspace, f, table="outcomes", wide="*", map="date=Week")
    assert e.value.issues[0].column == "value" and "empty" in e.value.issues[0].problem


def test_localized_rates_with_semicolons(workspace, tmp_path):
    f = tmp_path / "rates.csv"
    f.write_text("Datum;Währung;Kurs\n2024-01-01;EUR;1,0950\n2024-01-02;EUR;1,1000\n")
    r = load(
        workspace, f, table="fx_rates", decimal=",", map="date=Datum,currency=Währung,rate=Kurs"
    )
    assert r.added == 2
    assert workspace.table("fx_rates").rate.to_list() == [1.095, 1.1]


def test_date_format_option(workspace, tmp_path):
    f = tmp_path / "us.csv"
    f.write_text("date,kpi,value\n01/31/2024,sales,5\n02/01/2024,sales,6\n")
    load(workspace, f, table="outcomes", date_format="%m/%d/%Y")
    assert [str(d) for d in workspace.table("outcomes").date.to_list()] == [
        "2024-01-31",
        "2024-02-01",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs --option table"),
        ({"table": "outcome"}, "did you mean 'outcomes'"),
        ({"table": "outcomes", "map": "dat=Week"}, "did you mean 'date'"),
        ({"table": "outcomes", "map": "date=Wk"}, "source column 'Wk'"),
        ({"table": "outcomes", "map": "date"}, "canonical=source"),
        ({"table": "ad_performance", "wide": "*"}, "outcomes and controls"),
        ({"table": "outcomes", "const.colour": "red"}, "not a column of outcomes"),
    ],
)
def test_option_errors_name_the_fix(workspace, options, message):
    with pytest.raises(SourceFormatError, match=message):
        load(workspace, WIDE, **options)


def test_duplicate_header_and_missing_required(workspace, tmp_path):
    f = tmp_path / "dup.csv"
    f.write_text("date,kpi,kpi,value\n2024-01-01,a,b,1\n")
    with pytest.raises(SourceFormatError, match="duplicate column names: kpi"):
        load(workspace, f, table="outcomes")
    g = tmp_path / "nokpi.csv"
    g.write_text("date,value\n2024-01-01,1\n")
    with pytest.raises(SourceFormatError, match="kpi"):
        load(workspace, g, table="outcomes")


def test_bad_value_row_number(workspace, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("date,kpi,value\n2024-01-01,sales,1\n2024-01-02,sales,1.2.3\n")
    with pytest.raises(ValidationError) as e:
        load(workspace, f, table="outcomes")
    i = e.value.issues[0]
    assert (i.row, i.column, i.value) == (3, "value", "1.2.3")


def test_unmapped_columns_go_to_extras_where_the_table_has_them(workspace, tmp_path):
    f = tmp_path / "orders.csv"
    f.write_text(
        "order_id,customer_id,timestamp,value,currency,coupon\n"
        "A1,c1,2024-01-01 10:00:00,20.5,USD,WINTER\n"
    )
    load(workspace, f, table="orders")
    assert '"coupon":"WINTER"' in workspace.table("orders").extras.cast("string").to_list()[0]


def test_xlsx_and_parquet(workspace, tmp_path):
    import pandas as pd

    df = pd.read_csv(WIDE)
    x, p = tmp_path / "w.xlsx", tmp_path / "w.parquet"
    df.to_excel(x, index=False)
    df.to_parquet(p)
    assert load(workspace, x, table="outcomes", wide="Revenue", map="date=Week").added == 3
    assert load(workspace, p, table="outcomes", wide="Revenue", map="date=Week").unchanged == 3


def test_writer_round_trip_wide(workspace, tmp_path):
    import pandas as pd

    frame = pd.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-08"],
            "geo": "national",
            "kpi": ["sales", "units"] * 2,
            "value": [1.5, 2.0, 3.25, 4.0],
        }
    )
    path = get_source("generic").write({"outcomes": frame}, tmp_path / "o.csv", wide=True)
    load(workspace, path, table="outcomes", wide="*")
    t = workspace.table("outcomes").order_by(["date", "kpi"]).to_pandas()
    assert t.value.tolist() == frame.value.tolist() and t.kpi.tolist() == frame.kpi.tolist()
