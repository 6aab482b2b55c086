import json
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendlab.data.ingest import ingest_file
from spendlab.data.sources import ReadContext, get_source
from spendlab.data.sources.base import name_id
from spendlab.errors import SourceFormatError, SpendLabError, ValidationError

DIR = Path(__file__).parents[1] / "fixtures" / "microsoft"
SOURCE = get_source("microsoft")
CON = ibis.duckdb.connect()
HEADER = '"TimePeriod","CampaignName","CampaignId","CurrencyCode","Impressions","Clicks","Spend"'
FOOTER = '"\u00a92024 Microsoft Corporation. All rights reserved. "'


def read(path, row_numbers=True, **options) -> pd.DataFrame:
    ctx = ReadContext(con=CON, path=Path(path), options=options, row_numbers=row_numbers)
    return SOURCE.read(ctx)["ad_performance"].execute()


def as_dict(extras) -> dict:
    return extras if isinstance(extras, dict) else json.loads(extras)


def load(workspace, path, **options):
    return ingest_file(workspace, path, "microsoft", options)


def report(tmp_path, rows, *, name="r.csv", header=HEADER, encoding="utf-8-sig"):
    pre = ['"Report Name: Campaign Performance"', '"Report Time: 11/1/2024 - 11/30/2024"', ""]
    f = tmp_path / name
    f.write_bytes("\r\n".join([*pre, header, *rows, FOOTER, ""]).encode(encoding))
    return f


def test_keyword_report_values_rows_and_footer_dropped():
    t = read(DIR / "keywords.csv")
    assert t._row.tolist() == [9, 10, 11, 12]  # 6 preamble lines, a blank line, the header
    assert t.date.tolist() == ["2024-11-01", "2024-11-01", "2024-11-02", "2024-11-02"]
    assert set(t.level) == {"keyword"} and set(t.platform) == {"microsoft"}
    assert set(t.account_id) == {"149012345"}  # AccountId wins over AccountNumber
    assert t.campaign_name.tolist()[:3] == [
        'Brand - US - Exact, "core"',
        'Brand - US - Exact, "core"',
        "Winter Sale 🚀 ❄️",
    ]
    assert t.keyword_text[1] == "'; DROP TABLE ad_performance; --"
    assert t.keyword_id.tolist() == ["77001", "77002", "77003", "77003"]
    assert t.ad_group_id[0] == "1234567890123"
    assert t.match_type.tolist() == ["exact", "phrase", "broad", "broad"]  # BidMatchType
    assert t.device.tolist() == ["mobile", "desktop", "tablet", "mobile"]
    assert t.impressions.tolist() == ["1200", "300", "1345", "50"]
    assert t.spend.tolist() == ["42.15", "5.00", "1234.56", "0.01"]
    assert t.conversions.tolist() == ["3.5", "0", None, "0"]
    assert set(t.currency) == {"USD"}
    assert as_dict(t.extras[0]) == {
        "account_number": "F123ABCD",
        "delivered_match_type": "Exact",
        "ctr": "7.08%",
        "average_cpc": "0.50",
        "quality_score": "7",
    }


def test_web_ui_column_names_without_ids_or_currency():
    f = DIR / "campaigns_ui_names.csv"
    with pytest.raises(SourceFormatError, match="--option currency=XXX"):
        read(f)
    t = read(f, currency="eur")
    assert t._row.tolist() == [2, 3, 4] and set(t.currency) == {"EUR"}
    account = name_id("Acme Store")
    assert set(t.account_id) == {account}
    assert t.campaign_id.tolist() == [
        name_id(account, 'Brand, "US"'),
        name_id(account, 'Brand, "US"'),
        name_id(account, "Generic 🛒"),
    ]
    assert t.impressions.tolist() == ["1000", "900", "500"]
    assert set(t.objective) == {"search_content"} and set(t.level) == {"campaign"}


def test_keyword_ids_from_names_follow_the_chain(tmp_path):
    f = tmp_path / "k.csv"
    f.write_text(
        "TimePeriod,AccountName,CampaignName,AdGroupName,Keyword,BidMatchType,Spend,CurrencyCode\n"
        "2024-11-01,A,C,G,shoes,Exact,1,USD\n"
    )
    t = read(f)
    acct = name_id("A")
    ag = name_id(name_id(acct, "C"), "G")
    assert (t.ad_group_id[0], t.keyword_id[0]) == (ag, name_id(ag, "shoes", "exact"))


def test_geographic_report_countries_and_campaign_type(tmp_path):
    f = tmp_path / "geo.csv"
    f.write_text(
        "TimePeriod,CampaignName,Country,CampaignType,Spend,CurrencyCode\n"
        "2024-11-01,A,Germany,Audience (beta),1,EUR\n"
        "2024-11-01,A,Atlantis,Search & content,1,EUR\n"
    )
    t = read(f)
    assert t.country.tolist() == ["DE", ""]
    assert [as_dict(e) for e in t.extras] == [{"country": "Germany"}, {"country": "Atlantis"}]
    assert t.objective.tolist() == ["audience_beta", "search_content"]


def test_localized_and_encoded_reports(tmp_path):
    rows = ['"01.11.2024","Marke","5","EUR","1.234","56","1.234,56"']
    rows += ['"02.11.2024","Marke","5","EUR","987","5","0,5"']
    t = read(report(tmp_path, rows, encoding="utf-16"))
    assert t.date.tolist() == ["2024-11-01", "2024-11-02"]
    assert t.spend.tolist() == ["1234.56", "0.5"] and t.impressions.tolist() == ["1234", "987"]
    assert t._row.tolist() == [5, 6]
    latin = report(tmp_path, ['"11/1/2024","Caf\u00e9","5","EUR","1","1","1.5"'], name="l.csv")
    latin.write_bytes(latin.read_bytes().decode("utf-8-sig").encode("latin-1"))
    t = read(latin)
    assert t.campaign_name.tolist() == ["Caf\u00e9"] and t.date.tolist() == ["2024-11-01"]


def test_day_first_option(tmp_path):
    f = report(tmp_path, ['"13/11/2024","A","5","USD","1","1","1.5"'])
    assert read(f).date[0] == "13/11/2024"  # not a US date: the loader reports it
    assert read(f, date_format="%d/%m/%Y").date[0] == "2024-11-13"
    with pytest.raises(SourceFormatError, match="date_format"):
        read(f, date_format="%Y")


def test_structural_errors():
    with pytest.raises(SourceFormatError, match="Monthly report"):
        read(DIR / "monthly.csv")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("CampaignName,Spend\nA,1\n", "no TimePeriod column"),
        ("TimePeriod,Spend,Clicks\n2024-11-01,1,2\n", "no Account, Campaign"),
        ("TimePeriod,CampaignName,Status\n2024-11-01,A,on\n", "no metric column"),
        ('"Report Name: x"\n\nfoo,bar\n1,2\n', "no Microsoft Advertising header"),
    ],
)
def test_missing_columns_say_what_to_add(tmp_path, text, match):
    f = tmp_path / "m.csv"
    f.write_text(text)
    with pytest.raises(SourceFormatError, match=match):
        read(f, currency="USD")


# -- end to end ----------------------------------------------------------------------------------
def test_ingest_twice_then_a_correction(workspace, tmp_path):
    f = DIR / "keywords.csv"
    r = load(workspace, f)
    assert (r.added, r.rejected) == (4, 0)
    again = load(workspace, f)
    assert (again.added, again.replaced, again.unchanged) == (0, 0, 4)
    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes(f.read_bytes().replace(b'"42.15"', b'"42.16"'))
    r = load(workspace, fixed)
    assert (r.added, r.replaced, r.unchanged) == (0, 1, 3)
    t = workspace.table("ad_performance").order_by(["date", "keyword_id", "device"]).to_pandas()
    assert t.spend.tolist() == [42.16, 5.0, 0.01, 1234.56]
    assert as_dict(t.extras[0])["quality_score"] == "7"


@pytest.mark.parametrize(
    "bad", ['"11/2/2024","A","5","USD","1","1","1.5","x"', '"11/2/2024","A,"5"']
)
def test_a_malformed_line_is_named_by_its_number(workspace, tmp_path, bad):
    ok = '"11/1/2024","A","5","USD","1","1","1.5"'
    f = report(tmp_path, [ok, ok, bad, ok])
    with pytest.raises(SourceFormatError) as e:
        load(workspace, f)
    assert e.value.issue.row == 7  # 2 preamble lines, a blank line, the header, 2 good rows


def test_bad_values_name_line_and_column_and_write_nothing(workspace):
    with pytest.raises(ValidationError) as e:
        load(workspace, DIR / "bad_values.csv")
    got = {(i.row, i.column, i.value) for i in e.value.issues}
    assert got == {(10, "spend", "12,34,5"), (11, "spend", "-39.99")}
    assert workspace.table("ad_performance").count().execute() == 0


# -- properties ----------------------------------------------------------------------------------
names = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=15
).filter(lambda s: s.strip() not in ("", "--", "-") and s == s.strip())


@st.composite
def frames(draw):
    n = draw(st.integers(1, 8))
    return pd.DataFrame(
        {
            "date": [
                pd.Timestamp("2024-01-01") + pd.Timedelta(days=draw(st.integers(0, 400)))
                for _ in range(n)
            ],
            "account_id": "149012345",
            "account_name": draw(names),
            "campaign_id": [str(draw(st.integers(1, 10**12))) for _ in range(n)],
            "campaign_name": [draw(names) for _ in range(n)],
            "ad_group_id": "7",
            "ad_group_name": draw(names),
            "keyword_id": [str(i) for i in range(n)],
            "keyword_text": [draw(names) for _ in range(n)],
            "match_type": [draw(st.sampled_from(["exact", "phrase", "broad"])) for _ in range(n)],
            "device": [
                draw(st.sampled_from(["desktop", "mobile", "tablet", "tv"])) for _ in range(n)
            ],
            "currency": draw(st.sampled_from(["USD", "EUR"])),
            "impressions": [draw(st.integers(0, 10**9)) for _ in range(n)],
            "clicks": [draw(st.integers(0, 10**6)) for _ in range(n)],
            "spend": [draw(st.integers(0, 10**12)) / 1e6 for _ in range(n)],
            "conversions": [draw(st.integers(0, 400)) / 4 for _ in range(n)],
            "conversion_value": [draw(st.integers(0, 10**9)) / 100 for _ in range(n)],
        }
    )


@settings(max_examples=15, deadline=None)
@given(df=frames())
def test_round_trip_through_the_writer(tmp_path_factory, df):
    path = SOURCE.write({"ad_performance": df}, tmp_path_factory.mktemp("rt") / "m.csv")
    got = read(path)
    assert got._row.tolist() == list(range(9, 9 + len(df)))
    assert got.date.tolist() == [d.date().isoformat() for d in df.date]
    for c in ("account_id", "campaign_id", "ad_group_id", "keyword_id", "currency"):
        assert got[c].tolist() == df[c].tolist(), c
    for c in ("account_name", "campaign_name", "keyword_text", "match_type", "device"):
        assert got[c].tolist() == df[c].tolist(), c
    for c in ("impressions", "clicks", "spend", "conversions", "conversion_value"):
        assert got[c].astype(float).tolist() == df[c].astype(float).tolist(), c


lines = st.sampled_from(
    [HEADER, FOOTER, "", '"Report Name: x"', '"11/1/2024","A","1","USD","1","2","3"']
    + ['"11/1/2024","A"', '"x","y,z', "TimePeriod,CampaignName,Spend", "2024-11-01,A,1.5,extra"]
    + ['"Report Aggregation: Weekly"', "Total: 1,2,3"]
) | st.text(max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.lists(lines, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
    raw=st.binary(max_size=40),
)
def test_garbage_raises_only_spendlab_errors(tmp_path_factory, body, encoding, raw):
    """The reader raises only SpendLabErrors; the scan may fail only with the backend's parse
    errors, which the loader turns into a located SourceFormatError."""
    path = tmp_path_factory.mktemp("g") / "g.csv"
    text = "\n".join(body)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    for content in (data, data + raw):
        path.write_bytes(content)
        try:
            ctx = ReadContext(con=CON, path=path, options={"currency": "USD"}, row_numbers=True)
            staged = SOURCE.read(ctx)["ad_performance"]
        except SpendLabError:
            continue
        try:
            t = staged.execute()
        except duckdb.Error:  # only while scanning: the loader turns it into a located error
            continue
        assert set(t.columns) >= {"date", "currency", "platform", "level"}


def test_garbage_through_the_loader_is_a_source_format_error(workspace, tmp_path):
    f = tmp_path / "g.csv"
    f.write_bytes(b'TimePeriod,CampaignName,Spend\n2024-11-01,"A,1\n' + FOOTER.encode())
    with pytest.raises(SpendLabError):
        load(workspace, f, currency="USD")
