import json
from pathlib import Path

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendlab.data.ingest import ingest_file
from spendlab.data.sources import ReadContext, get_source
from spendlab.data.sources.base import name_id
from spendlab.data.sources.countries import COUNTRY_NAMES
from spendlab.errors import SourceFormatError, SpendLabError, ValidationError

DIR = Path(__file__).parents[1] / "fixtures" / "google_ads_ui"
SOURCE = get_source("google_ads_ui")
CON = ibis.duckdb.connect()


def read(path, row_numbers=True, **options) -> pd.DataFrame:
    ctx = ReadContext(con=CON, path=Path(path), options=options, row_numbers=row_numbers)
    return SOURCE.read(ctx)["ad_performance"].execute()


def load(workspace, path, **options):
    return ingest_file(workspace, path, "google_ads_ui", options)


# -- fixtures, value by value --------------------------------------------------------------------
def test_keyword_report_values_rows_and_totals_dropped():
    t = read(DIR / "keywords_en.csv")
    assert t._row.tolist() == [4, 5, 6, 7]  # title, date range and header lines counted
    assert set(t.level) == {"keyword"} and set(t.platform) == {"google_ads"}
    assert set(t.account_id) == {"1234567890"}  # 123-456-7890
    first = t.iloc[0]
    assert first.campaign_name == 'Brand - US - Exact, "core"'
    assert (first.campaign_id, first.ad_group_id, first.keyword_id) == ("111", "222", "333")
    assert t.keyword_text[1] == "'; DROP TABLE ad_performance; --"
    assert t.campaign_name[2] == "Winter Sale 🚀 ❄️"
    assert t.match_type.tolist() == ["exact", "phrase", "broad", "exact"]
    assert t.device.tolist() == ["mobile", "desktop", "tablet", "tv"]
    assert t.country.tolist() == ["US", "DE", "", "GB"]
    assert t.impressions.tolist() == ["1200", "300", "12345", "50"]
    assert t.clicks.tolist() == ["85", "10", None, "1"]  # "--" is NULL
    assert t.spend.tolist() == ["42.15", "5.00", "1234.56", "0.01"]
    assert t.conversion_value.tolist() == ["410.25", "0.00", None, "0.00"]
    assert set(t.objective) == {"search"} and set(t.currency) == {"USD"}
    extras = [json.loads(e) for e in t.extras]
    assert extras[0] == {
        "keyword_status": "Enabled",
        "interactions": 85,
        "ctr": 7.08,
        "avg_cpc": 0.5,
    }
    assert extras[2] == {"country_territory": "Atlantis", "keyword_status": "Paused"}


def test_csv_for_excel_utf16_tab_separated_german_numbers():
    t = read(DIR / "campaigns_de_excel.csv")
    assert t._row.tolist() == [4, 5, 6]
    assert t.date.tolist() == ["2024-11-01", "2024-11-02", "2024-11-02"]
    assert t.impressions.tolist() == ["12345", "9876", "0"]
    assert t.spend.tolist() == ["1234.56", "987.65", "0.00"]
    assert t.conversions.tolist() == ["12.5", "10", "0"]
    assert t.conversion_value.tolist() == ["2345.67", "1999.00", "0.00"]
    assert set(t.account_id) == {"9876543210"} and set(t.level) == {"campaign"}
    assert t.campaign_name[2] == 'Sale; "Winter", 50%'
    assert json.loads(t.extras[2]) == {"campaign_status": "Paused"}


def test_french_nbsp_numbers_bom_and_ids_from_names():
    t = read(DIR / "campaigns_fr.csv")
    assert t.impressions.tolist() == ["1234", "987", "1100"]  # NBSP and narrow NBSP
    assert t.spend.tolist() == ["1234.56", "98.70", "999.99"]
    assert t.conversions.tolist() == ["3.5", "0", "2"]
    account = name_id("Boutique Acme")
    assert set(t.account_id) == {account}
    assert t.campaign_id.tolist() == [
        name_id(account, "Marque – FR"),
        name_id(account, 'Soldes, "hiver" 🎿'),
        name_id(account, "Marque – FR"),
    ]
    assert t.campaign_name[1] == 'Soldes, "hiver" 🎿'


def test_weekly_rows_use_the_week_start_and_currency_option():
    with pytest.raises(SourceFormatError, match="--option currency="):
        read(DIR / "weekly.csv")
    t = read(DIR / "weekly.csv", currency="usd")
    assert t.date.tolist() == ["2024-10-28", "2024-11-04", "2024-11-04"]
    assert set(t.level) == {"ad_group"} and set(t.currency) == {"USD"}
    assert t.conversion_value.tolist() == ["2871.75", "2110.50", None]
    assert t.ad_group_name[2] == 'Boots, "leather"'
    campaign = name_id("", "Brand - US")
    assert t.ad_group_id[0] == name_id(campaign, "Shoes")


def test_missing_day_column_says_to_add_the_segment():
    with pytest.raises(SourceFormatError) as e:
        read(DIR / "campaigns_no_day.csv")
    msg = str(e.value)
    assert "Segment > Time > Day" in msg and "Campaign, Campaign ID, Impr." in msg


def test_ambiguous_decimal_needs_the_option(tmp_path):
    f = tmp_path / "amb.csv"
    f.write_text('Campaign report\nx\nDay,Campaign,Impr.,Cost\n2024-11-01,A,5,"1,234"\n')
    with pytest.raises(SourceFormatError, match="--option decimal=,") as e:
        read(f, currency="USD")
    assert e.value.issue.value == "1,234"
    assert read(f, currency="USD", decimal=",").spend.tolist() == ["1.234"]
    assert read(f, currency="USD", decimal=".").spend.tolist() == ["1234"]
    with pytest.raises(SourceFormatError, match="decimal"):
        read(f, currency="USD", decimal=";")


def test_mixed_separators_are_rejected(tmp_path):
    f = tmp_path / "mixed.csv"
    f.write_text('Day,Campaign,Cost,Conv. value\n2024-11-01,A,"1,5",2.25\n')
    with pytest.raises(SourceFormatError, match="'.' as the decimal separator"):
        read(f, currency="USD")


def test_slashed_dates_are_decided_over_the_column(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("Day,Campaign,Cost\n01/11/2024,A,1.5\n13/11/2024,A,2.5\n")
    assert read(f, currency="USD").date.tolist() == ["2024-11-01", "2024-11-13"]
    f.write_text("Day,Campaign,Cost\n01/02/2024,A,1.5\n")
    with pytest.raises(SourceFormatError, match="date_format"):
        read(f, currency="USD")
    assert read(f, currency="USD", date_format="%m/%d/%Y").date[0] == "2024-01-02"
    f.write_text('Day,Campaign,Cost\n"Fri, Nov 1, 2024",A,1.5\n1 déc. 2024,A,1\nnope,A,1\n')
    assert read(f, currency="USD").date.tolist() == ["2024-11-01", "2024-12-01", "nope"]


def test_keyword_match_type_from_brackets_when_no_column(tmp_path):
    f = tmp_path / "kw.csv"
    f.write_text(
        'Day,Campaign,Ad group,Keyword,Cost\n2024-11-01,C,G,[a b],1\n2024-11-01,C,G,"""c""",1\n'
    )
    t = read(f, currency="USD")
    assert t.keyword_text.tolist() == ["a b", "c"] and t.match_type.tolist() == ["exact", "phrase"]


def test_structural_errors_name_the_line(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("Day,Campaign,Cost\n2024-11-01,A,1\n2024-11-02,A,1,extra\n")
    with pytest.raises(SourceFormatError) as e:
        read(f, currency="USD")
    assert e.value.issue.row == 3
    f.write_text("hello\nworld\n")
    with pytest.raises(SourceFormatError, match="no Google Ads header row"):
        read(f)
    f.write_text("Day,Campaign,Campaign status\n2024-11-01,A,on\n")
    with pytest.raises(SourceFormatError, match="no metric column"):
        read(f)
    f.write_text("Day,Cost,Clicks\n2024-11-01,1,2\n")
    with pytest.raises(SourceFormatError, match="no Campaign"):
        read(f)
    (tmp_path / "x.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(SourceFormatError, match="Excel workbook"):
        read(tmp_path / "x.xlsx")


def test_xlsx_export_with_title_rows_and_total(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Campaign report"])
    sheet.append(["November 1, 2024 - November 30, 2024"])
    sheet.append(["Day", "Customer ID", "Campaign", "Impr.", "Cost", "Currency code", "CTR"])
    sheet.append(["2024-11-01", "123-456-7890", "Brand, ✨", 1200, 42.15, "USD", 0.0708])
    sheet.append(["2024-11-02", "123-456-7890", "Brand, ✨", 1100, "--", "USD", 0.05])
    sheet.append(["Total: Account", "--", "--", 2300, 42.15, "--", 0.06])
    book.save(tmp_path / "c.xlsx")
    t = read(tmp_path / "c.xlsx")
    assert t._row.tolist() == [4, 5]
    assert t.impressions.tolist() == ["1200", "1100"] and t.spend.tolist() == ["42.15", None]
    assert json.loads(t.extras[0]) == {"ctr": 0.0708}


# -- end to end ----------------------------------------------------------------------------------
def test_ingest_twice_then_a_correction(workspace, tmp_path):
    f = DIR / "keywords_en.csv"
    r = load(workspace, f)
    assert (r.added, r.rejected) == (4, 0)
    again = load(workspace, f)
    assert (again.added, again.replaced, again.unchanged) == (0, 0, 4)
    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes(f.read_bytes().replace(b",42.15,", b",42.16,"))
    r = load(workspace, fixed)
    assert (r.added, r.replaced, r.unchanged) == (0, 1, 3)
    t = workspace.table("ad_performance").order_by("keyword_id").to_pandas()
    assert t.spend.tolist()[:2] == [42.16, 5.0] and t.clicks.tolist()[2] == 0


@pytest.mark.parametrize(
    ("name", "row", "column", "value"),
    [("bad_number.csv", 5, "impressions", "12,34,5"), ("negative_cost.csv", 5, "spend", "-39.99")],
)
def test_bad_values_name_line_and_column_and_write_nothing(workspace, name, row, column, value):
    load(workspace, DIR / "keywords_en.csv")
    with pytest.raises(ValidationError) as e:
        load(workspace, DIR / name)
    issue = e.value.issues[0]
    assert (issue.row, issue.column, issue.value) == (row, column, value)
    assert workspace.table("ad_performance").count().execute() == 4


# -- properties ----------------------------------------------------------------------------------
names = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=15
).filter(lambda s: s.strip() not in ("", "--", "-"))
money = st.integers(0, 10**9).map(lambda c: c / 100)


@st.composite
def frames(draw):
    n = draw(st.integers(1, 8))
    rows = []
    for i in range(n):
        rows.append(
            {
                "date": pd.Timestamp("2024-01-01") + pd.Timedelta(days=draw(st.integers(0, 400))),
                "account_id": "1234567890",
                "account_name": draw(names),
                "campaign_id": str(draw(st.integers(1, 10**12))),
                "campaign_name": draw(names),
                "ad_group_id": str(draw(st.integers(1, 10**12))),
                "ad_group_name": draw(names),
                "keyword_id": str(i),
                "keyword_text": draw(names),
                "match_type": draw(st.sampled_from(["exact", "phrase", "broad"])),
                "device": draw(st.sampled_from(["desktop", "mobile", "tablet", "tv", "other"])),
                "country": draw(st.sampled_from(sorted(COUNTRY_NAMES))),
                "currency": draw(st.sampled_from(["USD", "EUR", "JPY"])),
                "impressions": draw(st.integers(0, 10**9)),
                "clicks": draw(st.integers(0, 10**6)),
                "spend": draw(money),
                "conversions": draw(st.integers(0, 10**4)) / 4,
                "conversion_value": draw(money),
            }
        )
    return pd.DataFrame(rows)


@settings(max_examples=25, deadline=None)
@given(
    df=frames(),
    variant=st.sampled_from(
        [("x.csv", {}), ("x.csv", {"excel": "true"}), ("x.tsv", {"decimal": ","})]
    ),
)
def test_round_trip_through_the_writer(tmp_path_factory, df, variant):
    name, options = variant
    path = tmp_path_factory.mktemp("rt") / name
    SOURCE.write({"ad_performance": df}, path, **options)
    got = read(path)  # the decimal separator is detected
    assert got._row.tolist() == list(range(4, 4 + len(df)))
    assert got.date.tolist() == [d.date().isoformat() for d in df.date]
    for c in ("account_id", "campaign_id", "ad_group_id", "keyword_id", "currency"):
        assert got[c].tolist() == df[c].tolist(), c
    for c in ("campaign_name", "ad_group_name", "keyword_text", "match_type", "device"):
        assert got[c].tolist() == df[c].tolist(), c
    assert got.country.tolist() == df.country.tolist()
    for c in ("impressions", "clicks", "spend", "conversions", "conversion_value"):
        assert got[c].astype(float).tolist() == df[c].astype(float).tolist(), c


def test_round_trip_xlsx(tmp_path):
    df = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-11-01", "2024-11-02"]),
            "account_id": "1234567890",
            "campaign_id": ["1", "2"],
            "campaign_name": ['a, "b" 🚀', "'; DROP TABLE ad_performance; --"],
            "currency": "USD",
            "impressions": [1234, 0],
            "clicks": [5, 0],
            "spend": [1234.5678, 0.1],
        }
    )
    path = SOURCE.write({"ad_performance": df}, tmp_path / "c.xlsx")
    got = read(path)
    assert got.campaign_name.tolist() == df.campaign_name.tolist()
    assert got.spend.astype(float).tolist() == [1234.5678, 0.1]
    assert got._row.tolist() == [4, 5] and set(got.level) == {"campaign"}


cells = st.sampled_from(
    ["Day", "Campaign", "Cost", "Impr.", "Week", "Total: Account", "--", "", "1,234", "12,34,5"]
    + ["2024-11-01", "01/02/2024", "1.234,5", '"', "Keyword", "Match type", "Currency code"]
) | st.text(max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.lists(cells, max_size=6), max_size=8),
    sep=st.sampled_from([",", "\t", ";"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "cp1252"]),
    raw=st.binary(max_size=64),
)
def test_garbage_raises_only_spendlab_errors(tmp_path_factory, lines, sep, encoding, raw):
    path = tmp_path_factory.mktemp("g") / "g.csv"
    body = "\n".join(sep.join(r) for r in lines)
    try:
        data = body.encode(encoding)
    except UnicodeEncodeError:
        data = body.encode("utf-8")
    for content in (data, raw, data + raw):
        path.write_bytes(content)
        try:
            read(path, currency="USD")
        except SpendLabError:
            pass
