"""Count spend once (data/spend.py) on a workspace whose levels are reported on different days:
exact totals, and the same total from every consumer of spend for the same scope (explorer, MMM
input, daily allocator history, planning's current spend, attribution's spend per channel)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from spendlab.core.dates import DateRange
from spendlab.data import explorer
from spendlab.data.ingest import ingest_frames
from spendlab.data.spend import count_once, counted_rows
from spendlab.errors import ConfigError

D1, D2, D3, D4, D5 = (dt.date(2024, 5, d) for d in range(1, 6))
#: What counts, per campaign and day (the rule: per day, the coarsest level that reports).
SEARCH = {D1: 100.0, D2: 50.0, D3: 80.0, D4: 75.0}
SOCIAL = {D1: 15.0, D2: 12.0, D3: 9.0, D4: 11.0}
TOTAL = sum(SEARCH.values()) + sum(SOCIAL.values())  # 352


ACCOUNTS = {"google_ads": "A", "meta": "M"}


def row(day, level, spend, *, platform="google_ads", campaign="c1", account=None, **ids):
    """An ad_performance row; ``ids``: ad_group, keyword, ad, device ('' when not given)."""
    names = {"c1": "Brand", "c2": "Prospecting"}
    return {
        "date": day,
        "platform": platform,
        "level": level,
        "account_id": ACCOUNTS.get(platform, "") if account is None else account,
        "campaign_id": campaign,
        "campaign_name": names.get(campaign),
        **{f"{k}_id": ids.get(k, "") for k in ("ad_group", "keyword", "ad")},
        "device": ids.get("device", ""),
        "impressions": 1000,
        "clicks": 10,
        "spend": spend,
        "conversions": 1.0,
        "conversion_value": spend * 2,
        "currency": "USD",
    }


def search_rows() -> list[dict]:
    """Campaign c1 (Google Ads): campaign rows on D1, keyword rows on D2, both on D3 (the
    keyword report misses 10 of the campaign's 80), an ad-group row for g1 with keyword rows of
    g1 and g2 on D4."""
    kw = lambda day, g, k, s: row(day, "keyword", s, ad_group=g, keyword=k)  # noqa: E731
    return [
        row(D1, "campaign", 100.0),
        kw(D2, "g1", "k1", 30.0),
        kw(D2, "g1", "k2", 20.0),
        row(D3, "campaign", 80.0),
        kw(D3, "g1", "k1", 40.0),
        kw(D3, "g1", "k2", 30.0),
        row(D4, "ad_group", 60.0, ad_group="g1"),
        kw(D4, "g1", "k1", 25.0),
        kw(D4, "g2", "k3", 15.0),
    ]


def social_rows() -> list[dict]:
    """Campaign c2 (Meta): ad rows on D1, a campaign row and an ad row on D2, ad rows split by
    device on D3, a campaign row on D4."""
    ad = lambda day, a, s, device="": row(  # noqa: E731
        day, "ad", s, platform="meta", campaign="c2", ad_group="s1", ad=a, device=device
    )
    return [
        ad(D1, "a1", 10.0),
        ad(D1, "a2", 5.0),
        row(D2, "campaign", 12.0, platform="meta", campaign="c2"),
        ad(D2, "a1", 7.0),
        ad(D3, "a1", 6.0, "mobile"),
        ad(D3, "a1", 3.0, "desktop"),
        row(D4, "campaign", 11.0, platform="meta", campaign="c2"),
    ]


def groupings() -> list[dict]:
    """Rows above the id hierarchy: groupings, never counted."""
    return [
        row(D1, "platform", 999.0, campaign="", account=""),
        {**row(D2, "business_unit", 999.0, campaign=""), "business_unit": "retail"},
    ]


@pytest.fixture
def wh(workspace):
    day = pd.Timestamp(D1)
    touch = [
        {"user_id": "u1", "timestamp": day, "channel": "paid_search", "campaign": "Brand"},
        {"user_id": "u2", "timestamp": day, "channel": "paid_social", "campaign": "Prospecting"},
    ]
    ingest_frames(
        workspace,
        {
            "ad_performance": pd.DataFrame(search_rows() + social_rows() + groupings()),
            "outcomes": pd.DataFrame(
                {"date": [D1, D2, D3, D4], "kpi": "revenue", "value": [5.0, 6.0, 7.0, 8.0]}
            ),
            "touchpoints": pd.DataFrame(touch),
            "conversions": pd.DataFrame(
                {
                    "user_id": ["u1"],
                    "timestamp": [day + pd.Timedelta(hours=1)],
                    "value": [9.0],
                    "currency": "USD",
                }
            ),
        },
    )
    return workspace


def _by(t, *keys) -> dict:
    """Spend summed by ``keys`` (every amount here is a whole number, so sums are exact)."""
    df = t.group_by(list(keys)).aggregate(spend=t.spend.sum()).to_pandas()
    if "date" in keys:
        df["date"] = pd.to_datetime(df["date"]).dt.date
    return {
        (tuple(r[:-1]) if len(keys) > 1 else r[0]): r[-1]
        for r in df[[*keys, "spend"]].itertuples(index=False)
    }


def test_each_day_counts_the_coarsest_level_that_reports_it(wh):
    rows = counted_rows(wh)
    assert _by(rows, "campaign_id", "date") == {
        **{("c1", d): s for d, s in SEARCH.items()},
        **{("c2", d): s for d, s in SOCIAL.items()},
    }
    assert float(rows.spend.sum().execute()) == TOTAL
    # which rows: D3's keywords are covered by the campaign row, D4's g1 keyword by its ad
    # group, D2's ad by the campaign row; both devices of D3's ad count
    got = rows.select("date", "level", "ad_group_id", "keyword_id", "ad_id", "device").to_pandas()
    got["date"] = pd.to_datetime(got["date"]).dt.date.astype(str)
    assert sorted(got.itertuples(index=False, name=None)) == sorted(
        [
            (str(D1), "campaign", "", "", "", ""),
            (str(D2), "keyword", "g1", "k1", "", ""),
            (str(D2), "keyword", "g1", "k2", "", ""),
            (str(D3), "campaign", "", "", "", ""),
            (str(D4), "ad_group", "g1", "", "", ""),
            (str(D4), "keyword", "g2", "k3", "", ""),
            (str(D1), "ad", "s1", "", "a1", ""),
            (str(D1), "ad", "s1", "", "a2", ""),
            (str(D2), "campaign", "", "", "", ""),
            (str(D3), "ad", "s1", "", "a1", "desktop"),
            (str(D3), "ad", "s1", "", "a1", "mobile"),
            (str(D4), "campaign", "", "", "", ""),
        ]
    )


def test_the_old_largest_level_total_rule_undercounts_here(wh):
    """Why one rule: taking each campaign's largest per-level total over the period (what
    planning and attribution did) drops the days only another level reports."""
    ap = wh.table("ad_performance")
    lv = ap.filter(ap.campaign_id == "c1").group_by("level").aggregate(s=ap.spend.sum())
    assert float(lv.s.max().execute()) == 180.0  # campaign rows of D1 and D3
    assert _by(counted_rows(wh, "campaign"), "campaign_id")["c1"] == 305.0


def test_level_keeps_only_rows_that_can_be_split_over_its_entities(wh):
    extra = [row(D5, "account", 200.0, campaign=""), row(D5, "campaign", 150.0)]
    ingest_frames(wh, {"ad_performance": pd.DataFrame(extra)})
    ap = wh.table("ad_performance")
    d5 = ap.filter(ap.date == D5)
    assert float(count_once(d5).spend.sum().execute()) == 200.0  # the account row covers c1
    assert float(count_once(d5, "campaign").spend.sum().execute()) == 150.0
    # ad groups: D1 and D3's campaign rows cannot be split; g1 counts D2 and D3's keywords
    # and D4's ad-group row
    groups = _by(counted_rows(wh, "ad_group", D1, D4, {"campaign_id": "c1"}), "ad_group_id")
    assert groups == {"g1": 50.0 + 70.0 + 60.0, "g2": 15.0}
    # keywords only (never ads), each keyword row that is not covered by a keyword-level row
    kws = counted_rows(wh, "keyword", D1, D4)
    assert set(kws.level.to_pandas()) == {"keyword"}
    assert float(kws.spend.sum().execute()) == 50.0 + 70.0 + 40.0
    with pytest.raises(ConfigError, match="use one of account, campaign"):
        count_once(ap, "platform")


def test_every_consumer_gives_the_same_total_for_the_same_scope(wh, tmp_path):
    from sqlalchemy import create_engine

    from spendlab.measure.attribution.calibration import channel_spend
    from spendlab.measure.mmm.workspace import build_input
    from spendlab.plan import store
    from spendlab.plan.curvesets import current_spend, save_curve_set
    from spendlab.plan.daily import campaign_days

    per_campaign = {"c1": sum(SEARCH.values()), "c2": sum(SOCIAL.values())}
    # the explorer: totals and the campaign table
    rng = DateRange(D1, D4)
    assert explorer.kpi_totals(wh, rng)["current"]["spend"] == TOTAL
    rows, n = explorer.kpi_table(wh, "campaign", rng)
    assert n == 2 and {r["campaign_id"]: r["spend"] for r in rows} == per_campaign
    assert explorer.trend(wh, rng)["spend"].tolist() == (
        [SEARCH[d] + SOCIAL[d] for d in (D1, D2, D3, D4)]
    )
    # the MMM input: one spend column per platform, daily
    inp = build_input(wh, frequency="daily")
    assert inp.frame["google_ads"].tolist() == list(SEARCH.values())
    assert inp.frame["meta"].tolist() == list(SOCIAL.values())
    # the daily allocator's campaign-day history
    days = campaign_days(wh, D5, 4, "revenue", ("platform",))
    assert days.groupby("campaign_id")["spend"].sum().to_dict() == per_campaign
    # planning's current spend (a daily curve set, averaged over the 4 days)
    eng = create_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    store.create_all(eng)
    frame = pd.DataFrame({"id": ["search", "social"], "type": "exponential"})
    frame = frame.assign(beta=1.0, scale=1.0)
    members = {"members": {"search": ["c1"], "social": ["c2"]}}
    cs = save_curve_set(eng, "ws", "c", frame, "day", "manual", members)
    cur = current_spend(wh, cs, days=4).set_index("id")["current"] * 4
    assert cur.to_dict() == {"search": 305.0, "social": 47.0}
    # attribution's spend per channel (campaigns map to channels through the touchpoints)
    sp = channel_spend(wh).set_index("channel")["spend"].to_dict()
    assert sp == {"paid_search": 305.0, "paid_social": 47.0}
    sp = channel_spend(wh, granularity="campaign").set_index("channel")["spend"].to_dict()
    assert sp == {"paid_search: Brand": 305.0, "paid_social: Prospecting": 47.0}
