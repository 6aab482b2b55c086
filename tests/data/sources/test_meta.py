"""Meta Ads Manager exports: currency in the header, one day per row, purchases reported under
several action types, summary rows, localized numbers, XLSX, and round trips through the writer."""

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendlab.data.ingest import ingest_file, ingest_frames
from spendlab.data.sources import get_source
from spendlab.data.sources.base import ReadContext, name_id
from spendlab.errors import ConfigError, SourceFormatError, SpendLabError, ValidationError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"
USD = FIXTURES / "ads_daily_usd.csv"
EUR = FIXTURES / "campaigns_eur_de.csv"
NO_DAY = FIXTURES / "campaigns_no_day_breakdown.csv"
RESULTS = FIXTURES / "adsets_results.csv"


def read(con, path=USD, row_numbers=True, **options) -> pd.DataFrame:
    ctx = ReadContext(con=con, path=Path(path), options=options, row_numbers=row_numbers)
    return get_source("meta").read(ctx)["ad_performance"].execute()


def test_daily_ad_export_is_read_exactly(con):
    t = read(con)
    assert t._row.tolist() == [2, 3, 4]  # the unnamed summary row (line 5) is dropped
    first = t.iloc[0]
    assert (first.date, first.level, first.platform, first.currency) == (
        "2024-11-01",
        "ad",
        "meta",
        "USD",
    )
    assert (first.account_id, first.campaign_id, first.ad_group_id, first.ad_id) == (
        "1234567890123456",
        "120210000000000001",
        "120210000000000002",
        "120210000000000003",
    )
    assert first.campaign_name == 'Black Friday "BF24" 🔥'
    assert first.ad_group_name == "US, 25-44; lookalike"
    assert first.ad_name == "'; DROP TABLE ad_performance; --"
    assert t.ad_name.iloc[2] == "Carousel – Ünïcode ✓"
    assert t.device.tolist() == ["mobile", "desktop", "mobile"]
    assert t.objective.tolist() == ["sales"] * 3
    assert t.impressions.tolist() == ["12000", "2200", "840"]
    assert t.clicks.tolist() == ["180", "35", None]  # Link clicks, not Clicks (all)
    assert t.spend.tolist() == ["125.00", "40.00", "9.99"]
    # Purchases (5) is the total of website (4) + in-app (1): never 10
    assert t.conversions.tolist() == ["5", "2", None]
    assert t.conversion_value.tolist() == ["412.50", "150.00", None]
    extras = json.loads(first.extras)
    assert extras["Clicks (all)"] == 240 and extras["Website purchases"] == 4
    assert extras["CTR (link click-through rate)"] == 1.5 and extras["Reach"] == 9120
    assert "Delivery status" not in extras and "Purchases" not in extras


def test_eur_export_with_german_numbers_and_no_ids(con):
    t = read(con, EUR)
    assert t.currency.unique().tolist() == ["EUR"] and t.level.unique().tolist() == ["campaign"]
    assert t.date.tolist() == ["2024-11-01"] * 3 + ["2024-11-02"]
    assert t.spend.tolist() == ["1234.56", "87.50", "0.35", "310.00"]
    assert t.impressions.tolist() == ["98765", "6012", "120", "20500"]
    assert t.country.tolist() == ["DE", "AT", "ZZ", "DE"]  # 'unknown' -> ZZ
    # no "Purchases" total: website + offline
    assert t.conversions.tolist() == ["15", "1", None, None]
    assert t.conversion_value.tolist() == ["2761.00", "49.99", None, None]
    account = name_id("Müller GmbH")
    assert t.account_id.unique().tolist() == [account]
    assert t.campaign_id.iloc[0] == name_id(account, 'Herbst-Sale "Winterjacken"')
    assert json.loads(t.extras.iloc[0]) == {"Clicks (all)": 1530, "Reach": 45000}


def test_rows_spanning_several_days_ask_for_the_day_breakdown(con):
    with pytest.raises(SourceFormatError) as e:
        read(con, NO_DAY)
    issue = e.value.issue
    assert (issue.row, issue.column) == (2, "Reporting ends")
    assert "2024-11-01 to 2024-11-30" in issue.problem
    assert "Breakdown > By time > Day" in issue.fix


def test_results_fallback_and_the_conversion_event_option(con):
    t = read(con, RESULTS)
    assert (t.level.unique().tolist(), t.currency.unique().tolist()) == (["ad_group"], ["GBP"])
    assert t.clicks.tolist() == ["130", "88", "71", "20"]  # Clicks (all): no Link clicks column
    # only the row whose result is a purchase counts Results as purchases
    assert t.conversions.tolist() == ["7", None, None, None]
    leads = read(con, RESULTS, conversion_event="Leads")
    assert leads.conversions.tolist() == [None, "19", None, "6"]  # total, else website + Meta
    with pytest.raises(SourceFormatError, match="'Registrations completed'"):
        read(con, EUR, conversion_event="Registrations completed")


def test_two_currencies_in_one_header(con, tmp_path):
    f = tmp_path / "two.csv"
    f.write_text(
        USD.read_text().replace(
            "Purchases conversion value (USD)", "Purchases conversion value (EUR)", 1
        )
    )
    with pytest.raises(SourceFormatError, match="two currencies") as e:
        read(con, f)
    assert e.value.issue.column == "Purchases conversion value (EUR)"


def test_currency_from_option_or_column(con, tmp_path):
    f = tmp_path / "nocur.csv"
    f.write_text(NO_DAY.read_text().replace(" (USD)", "").replace("2024-11-30", "2024-11-01"))
    with pytest.raises(SourceFormatError, match="--option currency=XXX"):
        read(con, f)
    assert read(con, f, currency="cad").currency.tolist() == ["CAD", "CAD"]
    g = tmp_path / "column.csv"
    lines = f.read_text().splitlines()
    g.write_text("\n".join([lines[0] + ",Currency", lines[1] + ",SEK", lines[2] + ",NOK"]) + "\n")
    assert read(con, g).currency.tolist() == ["SEK", "NOK"]


def test_structural_errors_say_what_to_export(con, tmp_path):
    cases = {
        "age.csv": ("Day,Campaign name,Age,Amount spent (USD)\n2024-11-01,A,18-24,1\n", "Age"),
        "nodate.csv": ("Campaign name,Amount spent (USD)\nA,1\n", "Reporting starts"),
        "nolevel.csv": ("Day,Amount spent (USD)\n2024-11-01,1\n", "Campaign"),
        "junk.csv": ("hello,world\n1,2\n", "no Meta Ads header"),
        "wide.csv": (
            "Day,Campaign name,Amount spent (USD)\n2024-11-01,A,B,1\n",
            "4 cells but the header has 3",
        ),
    }
    for name, (text, words) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        with pytest.raises(SourceFormatError, match=words):
            read(con, f)


def test_summary_rows_are_dropped_but_a_campaign_named_total_is_kept(con, tmp_path):
    f = tmp_path / "labels.csv"
    f.write_text(
        "Day,Campaign name,Amount spent (USD)\n"
        "2024-11-01,Total,5\n"
        "\n"
        "2024-11-01,Results from 2 campaigns,5\n"
        ",,5\n"
    )
    t = read(con, f)
    assert (t.campaign_name.tolist(), t._row.tolist()) == (["Total"], [2])


def test_mixed_decimal_marks_need_the_option(con, tmp_path):
    f = tmp_path / "mixed.csv"
    f.write_text('Day,Campaign name,Amount spent (USD)\n2024-11-01,A,"1,5"\n2024-11-02,A,2.25\n')
    with pytest.raises(SourceFormatError, match="decimal"):
        read(con, f)
    assert read(con, f, decimal=",").spend.tolist() == ["1.5", "225"]


def test_utf16_tab_separated_and_slashed_dates(con, tmp_path):
    f = tmp_path / "utf16.csv"
    text = 'Day\tCampaign name\tAmount spent (USD)\n11/30/2024\tÜber "sale"\t12.5\n'
    f.write_bytes(text.encode("utf-16"))
    t = read(con, f)
    assert (t.date.iloc[0], t.campaign_name.iloc[0], t.spend.iloc[0]) == (
        "2024-11-30",
        'Über "sale"',
        "12.5",
    )
    g = tmp_path / "fmt.csv"
    g.write_text("Day,Campaign name,Amount spent (USD)\n03/04/2024,A,1\n")
    assert read(con, g).date.iloc[0] == "2024-03-04"  # month first (en_US) unless told
    assert read(con, g, date_format="%d/%m/%Y").date.iloc[0] == "2024-04-03"


def test_xlsx_first_sheet_with_numeric_and_date_cells(con, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(
        [
            "Reporting starts",
            "Reporting ends",
            "Campaign name",
            "Campaign ID",
            "Amount spent (EUR)",
            "Impressions",
            "Purchases",
        ]
    )
    ws.append(
        [
            dt.datetime(2024, 11, 1),
            dt.datetime(2024, 11, 1),
            "Q4 😀",
            "120210000000000009",
            12.34,
            1000,
            3,
        ]
    )
    ws.append([None] * 4 + [12.34, 1000, 3])  # summary row
    wb.create_sheet("Other").append(["ignored"])
    f = tmp_path / "export.xlsx"
    wb.save(f)
    t = read(con, f)
    assert t[
        [
            "date",
            "campaign_id",
            "campaign_name",
            "spend",
            "impressions",
            "conversions",
            "currency",
            "_row",
        ]
    ].values.tolist() == [
        ["2024-11-01", "120210000000000009", "Q4 😀", "12.34", "1000", "3", "EUR", 2]
    ]
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SourceFormatError, match="Excel"):
        read(con, bad)


def test_writer_needs_one_currency(tmp_path):
    df = pd.DataFrame(
        {
            "date": ["2024-11-01"] * 2,
            "campaign_id": ["1", "2"],
            "currency": ["USD", "EUR"],
            "spend": [1.0, 2.0],
        }
    )
    with pytest.raises(ConfigError):
        get_source("meta").write({"ad_performance": df}, tmp_path / "x.csv")


# -- end to end ------------------------------------------------------------------------------
def test_ingest_twice_then_a_correction_replaces(workspace, tmp_path):
    r = ingest_file(workspace, USD, "meta")
    assert (r.added, r.rejected) == (3, 0)
    again = ingest_file(workspace, USD, "meta")
    assert (again.added, again.replaced, again.unchanged) == (0, 0, 3)
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(USD.read_text().replace(",125.00,", ",126.00,"))
    r = ingest_file(workspace, fixed, "meta")
    assert (r.added, r.replaced, r.unchanged) == (0, 1, 2)
    t = workspace.table("ad_performance").order_by(["date", "device"]).to_pandas()
    assert t.spend.tolist() == [40.0, 126.0, 9.99]
    assert t.conversions.tolist() == [2.0, 5.0, 0.0]


def test_bad_value_names_line_and_column_and_nothing_is_written(workspace, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(USD.read_text().replace(",840,", ",84O,"))
    with pytest.raises(ValidationError) as e:
        ingest_file(workspace, f, "meta")
    issue = e.value.issues[0]
    assert (issue.row, issue.column, issue.value) == (4, "impressions", "84O")
    assert workspace.table("ad_performance").count().execute() == 0


def test_eur_export_is_converted_to_the_workspace_currency(workspace):
    rates = pd.DataFrame(
        {"date": [dt.date(2024, 11, d) for d in (1, 2)], "currency": "EUR", "rate": [1.1, 1.2]}
    )
    ingest_frames(workspace, {"fx_rates": rates})
    assert ingest_file(workspace, EUR, "meta").added == 4
    t = workspace.table("ad_performance").order_by(["date", "country"]).to_pandas()
    assert t.spend.round(4).tolist() == [96.25, 1358.016, 0.385, 372.0]


# -- properties ------------------------------------------------------------------------------
# Ads Manager names hold no control characters (Excel could not store them either)
names = (
    st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)
money = st.integers(0, 10**9).map(lambda c: c / 100)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40),
            st.integers(1, 10**15),
            names,
            money,
            st.integers(0, 10**7),
            st.sampled_from(["desktop", "mobile", "tablet", "tv"]),
            st.one_of(st.none(), st.integers(0, 500)),
            money,
        ),
        min_size=1,
        max_size=15,
        unique_by=lambda r: (r[0], r[1], r[5]),
    ),
    st.sampled_from([(".csv", "."), (".csv", ","), (".xlsx", ".")]),
    st.sampled_from(["USD", "EUR", "JPY"]),
)
def test_round_trip_through_the_writer(con, tmp_path_factory, data, fmt, currency):
    df = pd.DataFrame(
        {
            "date": [dt.date(2024, 1, 1) + dt.timedelta(days=d) for d, *_ in data],
            "account_id": "act-1",
            "campaign_id": "77",
            "campaign_name": "Always on",
            "ad_group_id": "88",
            "ad_group_name": "Broad",
            "ad_id": [str(a) for _, a, *_ in data],
            "ad_name": [r[2] for r in data],
            "spend": [r[3] for r in data],
            "impressions": [r[4] for r in data],
            "device": [r[5] for r in data],
            "conversions": [r[6] for r in data],
            "conversion_value": [r[7] for r in data],
            "objective": "sales",
            "currency": currency,
        }
    )
    suffix, decimal = fmt
    path = tmp_path_factory.mktemp("meta") / f"rt{suffix}"
    get_source("meta").write({"ad_performance": df}, path, decimal=decimal, summary_row=True)
    got = read(con, path).sort_values(["date", "ad_id", "device"]).reset_index(drop=True)
    exp = df.assign(date=df.date.astype(str)).sort_values(["date", "ad_id", "device"])
    exp = exp.reset_index(drop=True)
    assert (got.level.unique().tolist(), got.currency.unique().tolist()) == (["ad"], [currency])
    for col in ("date", "account_id", "ad_group_id", "ad_id", "ad_name", "device", "objective"):
        assert got[col].tolist() == exp[col].tolist(), col
    for col in ("spend", "impressions", "conversions", "conversion_value"):
        want = [-1.0 if v is None or v != v else float(v) for v in exp[col]]
        assert pd.to_numeric(got[col]).fillna(-1.0).tolist() == want, col


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.text(max_size=400),
        st.lists(
            st.lists(
                st.sampled_from(
                    [
                        "Day",
                        "Reporting starts",
                        "Reporting ends",
                        "Campaign name",
                        "Ad ID",
                        "Amount spent (USD)",
                        "1,5",
                        "2024-11-01",
                        "--",
                        "",
                        '"',
                        "x",
                        "Purchases",
                        "12.5",
                        "Country",
                        "Impression device",
                        "€",
                        "Total",
                    ]
                ),
                max_size=6,
            ),
            max_size=6,
        ).map(lambda rows: "\n".join(",".join(r) for r in rows)),
    ),
    st.sampled_from([".csv", ".xlsx"]),
)
def test_arbitrary_input_raises_only_spendlab_errors(con, tmp_path_factory, data, suffix):
    f = tmp_path_factory.mktemp("junk") / f"export{suffix}"
    f.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    try:
        read(con, f)
    except SpendLabError:
        pass


def test_xlsx_names_starting_with_equals_stay_text(tmp_path):
    """Found by the round trip: openpyxl wrote '=Sale' as a formula, read back empty."""
    import pandas as pd
    from python_calamine import CalamineWorkbook

    from spendlab.data.sources.meta import _texts_not_formulas

    path = tmp_path / "names.xlsx"
    pd.DataFrame({"Ad name": ["=Sale", "+1 deal", "plain"]}).to_excel(path, index=False)
    _texts_not_formulas(path)
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert [r[0] for r in rows] == ["Ad name", "=Sale", "+1 deal", "plain"]
