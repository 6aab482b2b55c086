"""GA4 BigQuery export reader: sessions from event-scoped traffic, conversions, line numbers,
the traffic_source trap, the 72-hour rewrite, and round trips through the writer."""

import datetime as dt
import json
from pathlib import Path

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendlab.data.ingest import ingest_file
from spendlab.data.sources import get_source
from spendlab.data.sources.base import ReadContext
from spendlab.data.sources.ga4 import channel
from spendlab.data.sources.ga4_writer import CHANNEL_EXAMPLES
from spendlab.errors import SourceFormatError, SpendLabError, ValidationError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ga4"
DAY = FIXTURES / "events_20241101.jsonl"
A, B, C, E = "1001.1730450000", "2002.1730451000", "3003.1730452000", "5005.1730455000"
SQL = "'; DROP TABLE touchpoints; --"
TP_COLS = ["user_id", "timestamp", "channel", "campaign", "interaction_type", "source", "medium"]


def read(con, path=DAY, row_numbers=False, **options):
    ctx = ReadContext(con=con, path=Path(path), options=options, row_numbers=row_numbers)
    out = get_source("ga4").read(ctx)
    return {
        k: t.execute().sort_values(["user_id", "timestamp"]).reset_index(drop=True)
        for k, t in out.items()
    }


def ts(seconds: int) -> str:
    return str(dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds))


def test_one_touchpoint_per_session_from_event_scoped_traffic(con):
    tp = read(con)["touchpoints"]
    got = [tuple(r) for r in tp[TP_COLS + ["session_id"]].itertuples(index=False)]
    assert got == [
        (
            A,
            ts(1730450000),
            "paid_search",
            'Brand "Shoes" – EU 👟',
            "visit",
            "google",
            "cpc",
            f"{A}-1730450000",
        ),
        # traffic_source still says google/cpc and session_traffic_source_last_click names the
        # campaign: neither describes this visit, which is direct
        (A, ts(1730460000), "direct", None, "visit", "(direct)", "(none)", f"{A}-1730460000"),
        # auto-tagged: only a gclid; the campaign name comes from the Google Ads link
        (
            B,
            ts(1730451000),
            "paid_search",
            "PMax – Shoes",
            "click",
            "google",
            "cpc",
            f"{B}-1730451000",
        ),
        # first acquired by facebook (traffic_source), but this session carries nothing: direct
        (C, ts(1730452000), "direct", None, "visit", "(direct)", "(none)", f"{C}-1730452000"),
        # UTM values only as event params (fallback)
        (C, ts(1730460000), "email", SQL, "visit", "newsletter", "email", f"{C}-1730460000"),
        # no session_start exported: the session's first event, which has collected traffic
        (
            E,
            ts(1730455000),
            "paid_social",
            "q4 — ünïcode",
            "visit",
            "ig",
            "paid",
            f"{E}-1730455000",
        ),
    ]
    # user 4004 only continues yesterday's session (no session_start, no traffic): no touchpoint
    assert not tp.user_id.str.startswith("4004").any()


def test_conversions_dedupe_reloads_and_take_revenue_and_currency(con):
    cv = read(con, currency="GBP")["conversions"]
    assert cv[["user_id", "conversion_id", "event", "value", "currency"]].values.tolist() == [
        [A, "T-1001", "purchase", "59.9", "EUR"],
        [B, "T-2002", "purchase", "120.0", "USD"],  # the reload 60 s later is dropped
        [E, "", "purchase", "15", "GBP"],  # '(not set)' id; no currency param -> the option
    ]
    assert cv.timestamp.tolist() == [ts(1730450300), ts(1730451200), ts(1730455600)]


def test_conversion_events_option_adds_events(con):
    cv = read(con, conversion_events="sign_up, generate_lead", currency="USD")["conversions"]
    assert cv.event.tolist() == ["purchase", "sign_up", "purchase", "purchase"]
    assert cv.value.tolist()[1] is None


def test_identity_user_id_stitches_the_device(con):
    out = read(con, identity="user_id", currency="USD")
    # crm-42 signed in after the gclid session started: the whole device is crm-42
    assert "crm-42" in out["touchpoints"].user_id.tolist()
    assert B not in out["touchpoints"].user_id.tolist()
    assert out["conversions"].set_index("conversion_id").user_id["T-2002"] == "crm-42"
    with pytest.raises(SourceFormatError, match="identity"):
        read(con, identity="email")


def test_row_numbers_are_file_lines_even_after_a_blank_line(con):
    out = read(con, row_numbers=True, currency="USD")
    tp = out["touchpoints"].set_index("session_id")["_row"]
    assert tp[f"{A}-1730450000"] == 1
    assert tp[f"{B}-1730451000"] == 4
    assert tp[f"{C}-1730460000"] == 11  # line 5 is blank: still counted
    assert tp[f"{E}-1730455000"] == 13
    assert tp[f"{A}-1730460000"] == 15
    assert out["conversions"]._row.tolist() == [3, 7, 14]


def test_malformed_line_is_named(con):
    with pytest.raises(SourceFormatError) as e:
        read(con, FIXTURES / "events_malformed.jsonl")
    assert e.value.issue.row == 4
    assert "line 4" in str(e.value)


def test_malformed_line_found_by_the_scan_is_translated_to_its_line(con, tmp_path):
    """Past the first lines the reader checks itself, DuckDB finds the bad line while scanning
    (in the loader); ``parse_error`` turns DuckDB's record number into the file line."""
    good = DAY.read_text().splitlines()[0]
    lines = [good] * 300 + ["", '{"event_name": "page_view", oops}'] + [good] * 5
    f = tmp_path / "late.jsonl"
    f.write_text("\n".join(lines) + "\n")
    ctx = ReadContext(con=con, path=f)
    src = get_source("ga4")
    with pytest.raises(Exception) as raw:
        src.read(ctx)["touchpoints"].execute()
    err = src.parse_error(ctx, raw.value)
    assert isinstance(err, SourceFormatError)
    assert err.issue.row == 302  # line 301 is blank


def test_malformed_line_past_duckdbs_sample_is_named_by_the_loader(workspace, tmp_path):
    good = DAY.read_text().splitlines()[8]  # C's direct session_start
    lines = [good] * 25_000 + ["{not json"]
    f = tmp_path / "very_late.jsonl"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceFormatError) as e:
        ingest_file(workspace, f, "ga4")
    assert workspace.table("touchpoints").count().execute() == 0
    assert e.value.issue.row == 25_001


@pytest.mark.parametrize(
    "text, problem",
    [
        ('[{"event_name": "page_view"}]\n', "not a GA4 event"),
        ("date,campaign\n2024-11-01,x\n", "not valid JSON"),
        ('{"campaign": "x", "spend": 1}\n', "no event_name"),
        ('{"event_name": "a", "event_params": {"key": "x"}}\n', "event_params"),
        ('{"event_name": "a", "collected_traffic_source": "google"}\n', "collected_traffic_source"),
        ('\ufeff{"event_name": "a"}\n', "byte order mark"),
    ],
)
def test_files_that_are_not_ga4_events(con, tmp_path, text, problem):
    f = tmp_path / "x.json"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(SourceFormatError, match=problem):
        read(con, f)


CHANNEL_CASES = [
    ("google", "cpc", "paid_search"),
    ("bing", "ppc", "paid_search"),
    ("www.google.de", "paidsearch", "paid_search"),
    ("facebook", "paid_social", "paid_social"),
    ("ig", "paid", "paid_social"),
    ("newsletter", "email", "email"),
    ("google", "organic", "organic_search"),
    ("duckduckgo", None, "organic_search"),
    ("t.co", "referral", "organic_social"),
    ("linkedin", "social", "organic_social"),
    ("example.com", "referral", "referral"),
    ("dv360", "display", "display"),
    ("google", "cpm", "display"),
    ("awin", "affiliate", "affiliate"),
    ("(direct)", "(none)", "direct"),
    (None, None, "direct"),
    ("criteo", "retargeting", "paid_other"),
    ("offline", "qr", "other"),
]


def test_default_channel_grouping(con):
    t = ibis.memtable(
        pd.DataFrame(CHANNEL_CASES, columns=["source", "medium", "expected"]),
        schema={"source": "string", "medium": "string", "expected": "string"},
    )
    got = con.execute(t.select(t.source, t.medium, t.expected, got=channel(t.source, t.medium)))
    wrong = got[got.got != got.expected]
    assert wrong.empty, wrong.to_string()


def test_channel_examples_read_back_as_their_channel(con):
    rows = [(s, m, c) for c, (s, m) in CHANNEL_EXAMPLES.items()]
    t = ibis.memtable(pd.DataFrame(rows, columns=["source", "medium", "expected"]))
    got = con.execute(t.select(t.expected, got=channel(t.source, t.medium)))
    assert got.got.tolist() == got.expected.tolist()


def test_parquet_export_reads_like_json(con, tmp_path):
    frames = read(con, conversion_events="sign_up", currency="EUR")
    pq = tmp_path / "events_20241101.parquet"
    get_source("ga4").write(frames, pq)
    back = read(con, pq, conversion_events="sign_up")
    for name in frames:
        assert back[name].astype(str).equals(frames[name].astype(str).replace("15", "15.0"))


def test_older_parquet_without_collected_traffic_source_uses_params(con, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    def param(k, v):
        return {
            "key": k,
            "value": {
                "string_value": v if isinstance(v, str) else None,
                "int_value": v if isinstance(v, int) else None,
            },
        }

    rows = [
        {
            "event_timestamp": 1730450000000000,
            "event_name": "session_start",
            "user_pseudo_id": "u1",
            "event_params": [
                param("ga_session_id", 7),
                param("source", "newsletter"),
                param("medium", "email"),
            ],
        },
        {
            "event_timestamp": 1730460000000000,
            "event_name": "session_start",
            "user_pseudo_id": "u1",
            "event_params": [param("ga_session_id", 8)],
        },
    ]
    f = tmp_path / "old.parquet"
    pq.write_table(pa.Table.from_pylist(rows), f)
    tp = read(con, f, row_numbers=True)["touchpoints"]
    assert tp[["channel", "session_id", "_row"]].values.tolist() == [
        ["email", "u1-7", 1],
        ["direct", "u1-8", 2],
    ]


def test_parquet_that_is_not_a_ga4_export(con, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 not really")
    with pytest.raises(SourceFormatError, match="cannot be parsed"):
        read(con, junk)
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"date": ["2024-11-01"], "spend": [1.0]}), other)
    with pytest.raises(SourceFormatError, match="no event_name, event_timestamp, user_pseudo_id"):
        read(con, other)


def test_writer_makes_the_trap_realistic(con, tmp_path):
    frames = read(con, currency="USD")
    f = tmp_path / "w.jsonl"
    get_source("ga4").write(frames, f)
    events = [json.loads(line) for line in f.read_text().splitlines()]
    for_a = [e for e in events if e["user_pseudo_id"] == A]
    # the first touch is on every event of the user, also on the later direct session
    assert {e["traffic_source"]["medium"] for e in for_a} == {"cpc"}
    direct = [e for e in for_a if e["event_timestamp"] == str(1730460000 * 10**6)][0]
    last = direct["session_traffic_source_last_click"]["cross_channel_campaign"]
    assert (
        last["default_channel_group"] == "Paid Search"
        and direct["collected_traffic_source"] is None
    )
    assert (
        read(con, f, currency="USD")["touchpoints"].channel.tolist()
        == frames["touchpoints"].channel.tolist()
    )


# -- end to end ------------------------------------------------------------------------------
def _rates(workspace):
    from spendlab.data.ingest import ingest_frames

    ingest_frames(
        workspace,
        {
            "fx_rates": pd.DataFrame(
                {"date": [dt.date(2024, 11, 1)], "currency": "EUR", "rate": 1.1}
            )
        },
    )


def test_ingest_twice_and_the_72_hour_rewrite_replaces(workspace, tmp_path):
    _rates(workspace)
    r = ingest_file(workspace, DAY, "ga4", {"currency": "USD"})
    assert (r.tables["touchpoints"].added, r.tables["conversions"].added) == (6, 3)
    again = ingest_file(workspace, DAY, "ga4", {"currency": "USD"})
    assert (again.added, again.replaced, again.unchanged) == (0, 0, 9)
    # GA4 re-exports the day: a late session arrives and a purchase's revenue is restated
    lines = DAY.read_text().splitlines()
    lines[2] = lines[2].replace('"purchase_revenue":59.9', '"purchase_revenue":61.5')
    late = json.loads(lines[8])
    late.update(user_pseudo_id="6006.1", event_timestamp="1730470000000000")
    late["event_params"][0]["value"]["int_value"] = "1730470000"
    f = tmp_path / "events_20241101.jsonl"
    f.write_text("\n".join([*lines, json.dumps(late)]) + "\n")
    r = ingest_file(workspace, f, "ga4", {"currency": "USD"})
    assert (r.added, r.replaced, r.unchanged) == (1, 1, 8)
    conv = workspace.table("conversions").to_pandas().set_index("conversion_id")
    assert len(conv) == 3 and conv.value["T-1001"] == pytest.approx(61.5 * 1.1)
    assert workspace.table("touchpoints").count().execute() == 7


def test_bad_timestamp_names_line_and_column_and_writes_nothing(workspace, tmp_path):
    _rates(workspace)
    lines = DAY.read_text().splitlines()
    lines[8] = lines[8].replace('"event_timestamp":"1730452000000000"', '"event_timestamp":"soon"')
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationError) as e:
        ingest_file(workspace, f, "ga4", {"currency": "USD"})
    issue = e.value.issues[0]
    assert (issue.row, issue.column, issue.value) == (9, "timestamp", "soon")
    assert workspace.table("touchpoints").count().execute() == 0
    assert workspace.table("conversions").count().execute() == 0


def test_missing_currency_is_reported_on_its_line(workspace):
    _rates(workspace)
    with pytest.raises(ValidationError) as e:
        ingest_file(workspace, DAY, "ga4")
    issue = e.value.issues[0]
    assert (issue.row, issue.column) == (14, "currency")


# -- properties ------------------------------------------------------------------------------
users = st.text(alphabet="0123456789.abc", min_size=1, max_size=12)
names = st.text(min_size=1, max_size=15).map(str.strip).filter(lambda s: s and s != "(not set)")
touches = st.tuples(
    users,
    st.integers(1_600_000_000, 1_800_000_000),
    st.sampled_from(sorted(CHANNEL_EXAMPLES)),
    st.one_of(st.none(), names),
    st.booleans(),
)


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(touches, min_size=1, max_size=12, unique_by=lambda t: (t[0], t[1])),
    st.lists(
        st.tuples(users, st.integers(1_600_000_000, 1_800_000_000), st.integers(0, 10**6)),
        max_size=6,
        unique_by=lambda c: (c[0], c[1]),
    ),
)
def test_round_trip_through_the_writer(con, tmp_path_factory, tps, convs):
    rows = []
    for user, sec, ch, campaign, click in tps:
        src, med = CHANNEL_EXAMPLES[ch]
        click = click and ch not in ("direct",)
        rows.append(
            {
                "user_id": user,
                "timestamp": ts(sec),
                "channel": ch,
                "campaign": None if ch == "direct" else campaign,
                "interaction_type": "click" if click else "visit",
                "source": src,
                "medium": med,
            }
        )
    tp = pd.DataFrame(rows)
    cv = pd.DataFrame(
        [
            {
                "user_id": u,
                "timestamp": ts(s),
                "conversion_id": f"T{i}",
                "event": "purchase",
                "value": v / 100,
                "currency": "EUR",
            }
            for i, (u, s, v) in enumerate(convs)
        ],
        columns=["user_id", "timestamp", "conversion_id", "event", "value", "currency"],
    )
    path = tmp_path_factory.mktemp("ga4") / "rt.jsonl"
    get_source("ga4").write({"touchpoints": tp, "conversions": cv}, path)
    back = read(con, path)
    got = back["touchpoints"][TP_COLS]
    exp = tp.sort_values(["user_id", "timestamp"]).reset_index(drop=True)[TP_COLS]
    pd.testing.assert_frame_equal(got.fillna(""), exp.fillna(""), check_dtype=False)
    got_cv = back["conversions"]
    assert sorted(zip(got_cv.conversion_id, got_cv.value.astype(float), strict=True)) == sorted(
        zip(cv.conversion_id, cv.value, strict=True)
    )


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        st.lists(
            st.dictionaries(
                st.sampled_from(
                    [
                        "event_name",
                        "event_timestamp",
                        "user_pseudo_id",
                        "event_params",
                        "ecommerce",
                        "traffic_source",
                        "collected_traffic_source",
                        "x",
                    ]
                ),
                st.recursive(
                    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: (
                        st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
                    ),
                    max_leaves=6,
                ),
                max_size=5,
            ),
            max_size=4,
        ).map(lambda recs: "\n".join(json.dumps(r) for r in recs)),
    )
)
def test_arbitrary_input_raises_only_spendlab_errors(con, tmp_path_factory, data):
    f = tmp_path_factory.mktemp("junk") / "events.jsonl"
    f.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    try:
        out = get_source("ga4").read(ReadContext(con=con, path=f, row_numbers=True))
        for t in out.values():
            t.execute()
    except SpendLabError:
        pass
