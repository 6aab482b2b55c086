"""The campaign explorer's queries: no double counting across levels, presets, ratios."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from spendlab.core.dates import DateRange
from spendlab.data import explorer as ex
from spendlab.data.ingest import ingest_frames
from spendlab.errors import ConfigError


def _rows(level, campaign, ad_group, keyword, spend, day=dt.date(2024, 5, 1), conv=1.0):
    return {
        "date": day,
        "platform": "google_ads",
        "level": level,
        "account_id": "A",
        "account_name": "Acct",
        "campaign_id": campaign,
        "campaign_name": f"C {campaign}",
        "ad_group_id": ad_group,
        "ad_group_name": f"G {ad_group}" if ad_group else None,
        "keyword_id": keyword,
        "keyword_text": f"kw {keyword}" if keyword else None,
        "impressions": 100,
        "clicks": 10,
        "spend": spend,
        "conversions": conv,
        "conversion_value": spend * 3,
        "currency": "USD",
    }


@pytest.fixture
def wh(workspace):
    rows = [
        # campaign 1 reported twice: a campaign row and its two keyword rows (same spend)
        _rows("campaign", "1", "", "", 30.0),
        _rows("keyword", "1", "g1", "k1", 10.0),
        _rows("keyword", "1", "g1", "k2", 20.0),
        # campaign 2 only at keyword level, with no conversions
        _rows("keyword", "2", "g2", "k3", 5.0, conv=0.0),
        # the previous period
        _rows("campaign", "1", "", "", 15.0, day=dt.date(2024, 4, 30)),
    ]
    ingest_frames(workspace, {"ad_performance": pd.DataFrame(rows)})
    return workspace


def test_each_day_and_entity_is_counted_at_one_level(wh):
    day = DateRange(dt.date(2024, 5, 1), dt.date(2024, 5, 1))
    totals = ex.kpi_totals(wh, day)
    assert totals["current"]["spend"] == pytest.approx(35.0)  # not 65
    assert totals["previous"]["spend"] == pytest.approx(15.0)
    assert totals["delta"]["spend"] == pytest.approx(35 / 15 - 1)
    camps, n = ex.kpi_table(wh, "campaign", day)
    assert n == 2 and {r["campaign_id"]: r["spend"] for r in camps} == {"1": 30.0, "2": 5.0}
    kws, n = ex.kpi_table(wh, "keyword", day, {"campaign_id": "1"})
    assert sorted(r["spend"] for r in kws) == [10.0, 20.0]


def test_ads_are_not_keywords_and_do_not_double_keywords(workspace):
    day = dt.date(2024, 5, 1)
    ad = {**_rows("ad", "3", "g3", "", 7.0), "ad_id": "a1"}
    kw = _rows("keyword", "3", "g3", "k9", 7.0)  # the same spend seen by keyword
    only_ads = {**_rows("ad", "4", "g4", "", 2.0), "ad_id": "a2"}
    ingest_frames(workspace, {"ad_performance": pd.DataFrame([ad, kw, only_ads])})
    rng = DateRange(day, day)
    assert ex.kpi_totals(workspace, rng)["current"]["spend"] == pytest.approx(9.0)
    kws, n = ex.kpi_table(workspace, "keyword", rng)
    assert n == 1 and kws[0]["keyword_id"] == "k9"
    groups, _ = ex.kpi_table(workspace, "ad_group", rng)
    assert {g["ad_group_id"]: g["spend"] for g in groups} == {"g3": 7.0, "g4": 2.0}


def test_ratios_follow_the_zero_policy(wh):
    day = DateRange(dt.date(2024, 5, 1), dt.date(2024, 5, 1))
    rows, _ = ex.kpi_table(wh, "campaign", day, sort="name", descending=False)
    two = next(r for r in rows if r["campaign_id"] == "2")
    assert two["cpa"] is None  # spend without conversions: infinite CPA, null in JSON
    assert two["roas"] == pytest.approx(3.0)
    assert two["ctr"] == pytest.approx(0.1)
    # infinite, not undefined: the highest CPA sorts first, the lowest last
    worst, _ = ex.kpi_table(wh, "campaign", day, sort="cpa")
    assert [r["campaign_id"] for r in worst] == ["2", "1"]
    best, _ = ex.kpi_table(wh, "campaign", day, sort="cpa", descending=False)
    assert [r["campaign_id"] for r in best] == ["1", "2"]
    assert ex.kpi_totals(wh, day)["current"]["cpa"] == pytest.approx(35.0 / 1.0)


def test_presets_end_on_the_latest_day_with_data(wh):
    full = ex.data_range(wh)
    assert full == DateRange(dt.date(2024, 4, 30), dt.date(2024, 5, 1))
    assert ex.resolve_preset("last_7_days", full.end) == DateRange(
        dt.date(2024, 4, 25), dt.date(2024, 5, 1)
    )
    assert ex.resolve_preset("month_to_date", full.end).start == dt.date(2024, 5, 1)
    assert ex.resolve_preset("last_month", full.end) == DateRange(
        dt.date(2024, 4, 1), dt.date(2024, 4, 30)
    )
    with pytest.raises(ConfigError, match="unknown date preset"):
        ex.resolve_preset("yesterday", full.end)


def test_unknown_filters_levels_and_sorts_are_refused(wh):
    day = DateRange(dt.date(2024, 5, 1), dt.date(2024, 5, 1))
    with pytest.raises(ConfigError, match="cannot filter on"):
        ex.kpi_table(wh, "campaign", day, {"password": "x"})
    with pytest.raises(ConfigError, match="unknown level"):
        ex.kpi_table(wh, "galaxy", day)
    with pytest.raises(ConfigError, match="cannot sort"):
        ex.kpi_table(wh, "campaign", day, sort="spend; drop table x")


def test_empty_warehouse(workspace):
    assert ex.data_range(workspace) is None
