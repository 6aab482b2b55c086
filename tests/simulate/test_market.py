"""The simulated market: determinism, exact outcome identity, truth consistency, schema."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from spendlab.data.schema import pandera_schema, table_spec
from spendlab.errors import ConfigError
from spendlab.simulate import SimConfig, simulate

from .conftest import SMALL

FRAMES = ("ad_performance", "outcomes", "controls", "touchpoints", "conversions", "orders",
          "customers", "entities")  # fmt: skip


def test_same_seed_same_market(market):
    again = simulate(SMALL)
    for name in FRAMES:
        pd.testing.assert_frame_equal(market.frames[name], again.frames[name])
    assert json.dumps(market.truth, sort_keys=True) == json.dumps(again.truth, sort_keys=True)


def test_different_seed_different_market(market):
    other = simulate(dataclasses.replace(SMALL, seed=12))
    assert not np.array_equal(market.spend, other.spend)
    assert market.truth["totals"]["revenue"] != other.truth["totals"]["revenue"]
    assert not market.frames["touchpoints"].equals(other.frames["touchpoints"])


def test_streams_are_independent_of_other_sizes(market):
    more_users = simulate(dataclasses.replace(SMALL, users=500, customers=50))
    np.testing.assert_array_equal(market.spend, more_users.spend)
    pd.testing.assert_frame_equal(market.frames["outcomes"], more_users.frames["outcomes"])
    pd.testing.assert_frame_equal(
        market.frames["ad_performance"], more_users.frames["ad_performance"]
    )
    assert market.truth["campaigns"] == more_users.truth["campaigns"]


@pytest.mark.parametrize("which", ["market", "geo_market"])
def test_components_sum_exactly_to_outcome(which, request):
    m = request.getfixturevalue(which)
    c = m.components()
    np.testing.assert_allclose(c["baseline"], c["trend"] + c["seasonality"] + c["holidays"],
                               rtol=1e-12, atol=1e-9)  # fmt: skip
    controls = c[[k for k in c.columns if k.startswith("control_")]].sum(axis=1)
    np.testing.assert_allclose(c["controls"], controls, rtol=1e-12, atol=1e-9)
    media = c[[k for k in c.columns if k.startswith("media_")]].sum(axis=1)
    np.testing.assert_allclose(c["media"], media, rtol=1e-12, atol=1e-9)
    total = c["baseline"] + c["controls"] + c["media"] + c["noise"]
    np.testing.assert_allclose(c["revenue"], total, rtol=1e-12, atol=1e-9)
    # the media component is the sum of the campaigns' contributions landing in each geo
    g = m.geo_index()
    for k, geo in enumerate(m.outcome.geos):
        np.testing.assert_allclose(
            c.loc[c["geo"] == geo, "media"].to_numpy(), m.contributions[g == k].sum(axis=0),
            rtol=1e-12, atol=1e-9,
        )  # fmt: skip
    # and the outcomes table is that revenue
    out = m.frames["outcomes"]
    rev = out[out["kpi"] == "revenue"].merge(c[["date", "geo", "revenue"]], on=["date", "geo"])
    assert len(rev) == len(c)
    np.testing.assert_allclose(rev["value"], rev["revenue"], rtol=0, atol=0)
    conv = out[out["kpi"] == "conversions"].sort_values(["geo", "date"])["value"].to_numpy()
    np.testing.assert_allclose(conv, c.sort_values(["geo", "date"])["revenue"] / m.config.aov)


def test_truth_totals_match_arrays(market):
    t = market.truth
    assert t["totals"]["media"] == pytest.approx(market.contributions.sum(), rel=1e-12)
    assert t["totals"]["revenue"] == pytest.approx(
        t["totals"]["baseline"] + t["totals"]["controls"] + t["totals"]["media"]
        + t["totals"]["noise"], rel=1e-12,
    )  # fmt: skip
    assert t["baseline"]["total"] == t["totals"]["baseline"]


def test_channel_totals_equal_truth(market):
    tab = market.catalog.table
    for name, ch in market.truth["channels"].items():
        mask = (tab["spec"] == name).to_numpy()
        assert ch["contribution"] == pytest.approx(market.contributions[mask].sum(), rel=1e-12)
        assert ch["spend"] == pytest.approx(market.spend[mask].sum(), rel=1e-12)
        assert ch["campaign_ids"] == tab.loc[mask, "campaign_id"].tolist()
        camps = [market.truth["campaigns"][c] for c in ch["campaign_ids"]]
        assert sum(c["contribution"] for c in camps) == pytest.approx(ch["contribution"])
    rt = market.truth["channels"]["retargeting"]
    assert rt["contribution"] == 0.0 and rt["iroas"] == 0.0
    assert rt["platform_roas"] > 3.0  # the platform claims a lot
    for name in ("google_search", "meta_social"):
        ch = market.truth["channels"][name]
        assert ch["platform_roas"] > ch["iroas"]  # platforms over-claim
    # the campaign truth recomputes from its parameters
    cid = tab["campaign_id"].iat[0]
    c = market.truth["campaigns"][cid]
    assert c["iroas"] == pytest.approx(c["contribution"] / c["spend"])
    assert c["adstock"]["type"] in ("geometric", "delayed")
    assert c["saturation"]["type"] in ("hill", "logistic")


def test_keyword_rows_sum_to_campaign_spend(market):
    ap = market.frames["ad_performance"]
    tab = market.catalog.table
    daily = ap.groupby(["campaign_id", "date"])["spend"].sum()
    cents = np.round(daily * 100).astype(np.int64)
    full = pd.DataFrame(market.spend, index=tab["campaign_id"], columns=market.dates)
    expected = full.stack()
    expected = expected[expected > 0]
    expected.index.names = ["campaign_id", "date"]
    got = cents.reindex(expected.index).fillna(0)
    np.testing.assert_array_equal(got.to_numpy(), np.round(expected.to_numpy() * 100))
    assert set(ap["level"]) == {"keyword", "ad", "campaign"}
    kw = ap[ap["level"] == "keyword"]
    assert (kw["keyword_id"] != "").all() and (kw["ad_id"] == "").all()
    assert (ap["impressions"] >= ap["clicks"]).all()


def test_frames_follow_the_schema(market, geo_market):
    for m in (market, geo_market):
        for name in FRAMES:
            df = m.frames[name]
            spec = table_spec(name)
            assert set(df.columns) <= set(spec.names), (name, set(df.columns) - set(spec.names))
            for col in spec.columns:
                if col.required:
                    assert col.name in df.columns, (name, col.name)
                if col.name not in df.columns:
                    continue
                s = df[col.name]
                if col.dtype in ("date", "timestamp"):
                    assert pd.api.types.is_datetime64_any_dtype(s), (name, col.name)
                elif col.dtype == "int64":
                    assert pd.api.types.is_integer_dtype(s), (name, col.name)
                elif col.dtype == "float64":
                    assert pd.api.types.is_float_dtype(s), (name, col.name)
                else:
                    assert s.dtype == object, (name, col.name)
            pandera_schema(name).validate(df)  # checks, ranges, unique keys


def test_geo_market_shape(geo_market, market):
    out = geo_market.frames["outcomes"]
    assert sorted(out["geo"].unique()) == sorted(geo_market.outcome.geos)
    assert "national" not in set(out["geo"])
    assert set(market.frames["outcomes"]["geo"]) == {"national"}
    ap = geo_market.frames["ad_performance"]
    assert set(ap["country"]) <= set(geo_market.outcome.geos)
    assert set(ap["device"]) == {"desktop", "mobile"}
    assert set(market.frames["ad_performance"]["country"]) == {""}
    assert len(geo_market.truth["geos"]) == 4


def test_entities_cover_ad_performance(market):
    ap = market.frames["ad_performance"]
    ent = market.frames["entities"]
    ids = ["platform", "campaign_id", "ad_group_id", "keyword_id", "ad_id"]
    rows = ap[ids].drop_duplicates()
    merged = rows.merge(ent[ids], how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert {"campaign", "ad_group", "keyword", "ad"} == set(ent["level"])
    kw = ent[ent["level"] == "keyword"]
    assert kw["bid"].notna().all() and kw["match_type"].notna().all()
    assert ent.loc[ent["level"] == "campaign", "budget"].notna().all()


def test_weekly(market):
    w = market.weekly()
    out = w["outcomes"]
    assert (pd.to_datetime(out["date"]).dt.weekday == 0).all()
    d = market.frames["outcomes"]
    first, last = out["date"].min(), out["date"].max() + pd.Timedelta(days=6)
    daily = d[(d["date"] >= first) & (d["date"] <= last)].groupby("kpi")["value"].sum()
    assert out.groupby("kpi")["value"].sum().to_dict() == pytest.approx(daily.to_dict())
    assert out.groupby("geo").size().iloc[0] == 2 * ((last - first).days + 1) // 7
    ap = w["ad_performance"]
    assert ap["spend"].sum() == pytest.approx(
        market.frames["ad_performance"]
        .pipe(lambda x: x[(x["date"] >= first) & (x["date"] <= last)])["spend"]
        .sum()
    )
    comp = w["components"]
    np.testing.assert_allclose(
        comp["revenue"], comp["baseline"] + comp["controls"] + comp["media"] + comp["noise"]
    )


def test_confounding_makes_spend_follow_demand():
    def corr(k):
        m = simulate(SimConfig(seed=3, days=365, campaigns=12, users=10, customers=5,
                               confounding=k))  # fmt: skip
        return np.corrcoef(m.spend.sum(axis=0), m.shape.season_index)[0, 1]

    assert corr(1.0) > corr(0.0) + 0.2


def test_truth_is_plain_json(market):
    text = json.dumps(market.truth, allow_nan=False)
    back = json.loads(text)
    assert back["seed"] == SMALL.seed
    assert back["config"]["days"] == SMALL.days
    assert back["period"] == {"start": "2024-01-01", "end": "2024-04-29", "days": 120}


@pytest.mark.parametrize(
    "kwargs",
    [{"days": 10}, {"campaigns": 2}, {"geos": 0}, {"geos": 999}, {"start": "01/02/2024"},
     {"confounding": 1.5}, {"trend": "cubic"}, {"devices": ("phone",)}, {"budget": -1.0}],
)  # fmt: skip
def test_bad_config_is_a_config_error(kwargs):
    with pytest.raises(ConfigError):
        SimConfig(**kwargs)


def test_large_market_simulates_without_building_rows():
    m = simulate(SimConfig(seed=1, days=730, campaigns=1000, users=2000, customers=500))
    assert m.spend.shape == (1000, 730)
    assert len(m.truth["campaigns"]) == 1000
    assert "ad_performance" not in m.frames._cache  # built lazily
