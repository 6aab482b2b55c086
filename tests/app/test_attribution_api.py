"""POST /api/v1/workspaces/{ws}/attribution: money (spend, CPA, ROAS) against plain DuckDB,
calibration to lift tests and iROAS, the ordered Shapley and day half-life options, strict JSON
and 422s for hostile bodies."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from .conftest import login

URL = "/api/v1/workspaces/demo/attribution"


def strict(response):
    """The body parsed with inf/NaN refused: undefined ratios must be null."""

    def refuse(token):
        raise AssertionError(f"non-strict JSON constant {token} in {response.text[:200]}")

    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_constant=refuse)


def _spend(ws: Path, granularity: str) -> dict[str, float]:
    """Independent of the app: plain DuckDB. Each day, a row counts unless a coarser row of
    its campaign reports that day (a campaign row covers everything below it, an ad-group row
    its keywords and ads, a keyword row its ad group's ads); campaigns map to channels through
    the touchpoints."""
    label = "t.channel" if granularity == "channel" else "t.channel || ': ' || t.campaign"
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    rows = con.execute(
        f"""
        with r as (select * from ad_performance
                   where level in ('campaign', 'ad_group', 'keyword', 'ad')),
             n as (select * from r where not exists (
                 select 1 from r p
                 where p.date = r.date and p.platform = r.platform
                   and p.account_id = r.account_id and p.campaign_id = r.campaign_id
                   and ((p.level = 'campaign' and r.level <> 'campaign')
                     or (p.level = 'ad_group' and r.level in ('keyword', 'ad')
                         and p.ad_group_id = r.ad_group_id)
                     or (p.level = 'keyword' and r.level = 'ad'
                         and p.ad_group_id = r.ad_group_id)))),
             c as (select campaign_name, sum(spend) s from n group by 1),
             t as (select distinct channel, campaign from touchpoints)
        select {label} as k, sum(c.s) from c join t on c.campaign_name = t.campaign group by 1
        """
    ).fetchall()
    con.close()
    return dict(rows)


def by_channel(body):
    return {c["channel"]: c for c in body["channels"]}


def test_money_is_duckdb_spend_over_credited_conversions(client, demo_ws):
    client.app.state.spendlab.workspaces.close_all()  # DuckDB: one configuration per file
    expected = {g: _spend(demo_ws, g) for g in ("channel", "campaign")}
    h = login(client, "vic")
    body = strict(client.post(URL, json={"model": "linear", "bootstrap": 30}, headers=h))
    spend = expected["channel"]
    ch = by_channel(body)
    assert set(ch) == set(spend) and len(spend) >= 3
    for name, row in ch.items():
        assert row["spend"] == pytest.approx(spend[name], rel=1e-9)
        assert row["cpa"] == pytest.approx(spend[name] / row["conversions"], rel=1e-9)
        assert row["roas"] == pytest.approx(row["value"] / spend[name], rel=1e-9)
        assert row["cpa_lo"] == pytest.approx(spend[name] / row["conversions_hi"], rel=1e-9)
        assert row["roas_lo"] <= row["roas"] <= row["roas_hi"]
    assert body["total_spend"] == pytest.approx(sum(spend.values()), rel=1e-9)
    # per campaign, labelled "channel: campaign" like the journeys
    body = strict(client.post(URL, json={"model": "last_touch", "granularity": "campaign"},
                              headers=h))  # fmt: skip
    spend = expected["campaign"]
    for name, row in by_channel(body).items():
        assert row["spend"] == pytest.approx(spend.get(name, 0.0), rel=1e-9)
    assert sum(r["spend"] for r in body["channels"]) > 0
    # money off: no spend columns at all
    body = strict(client.post(URL, json={"model": "linear", "money": False}, headers=h))
    assert "spend" not in body["channels"][0] and "total_spend" not in body


def test_calibration_removes_the_zero_effect_channel(client):
    """The simulator's retargeting has no effect; a lift test or iROAS of 0 says so, and its
    credit goes to the baseline (totals unchanged)."""
    h = login(client, "vic")
    plain = by_channel(strict(client.post(URL, json={"model": "markov"}, headers=h)))
    assert plain["retargeting"]["conversions"] > 1  # the trap: credited without effect
    for calibration in ({"lift": {"retargeting": 0}}, {"iroas": {"retargeting": 0}}):
        body = strict(client.post(URL, json={"calibration": calibration}, headers=h))
        ch = by_channel(body)
        assert body["calibrated"] is True
        assert ch["retargeting"]["conversions"] == 0 and ch["retargeting"]["value"] == 0
        assert ch["retargeting"]["cpa"] is None  # spend and no credited conversions
        assert ch["(baseline)"]["conversions"] == pytest.approx(
            plain["retargeting"]["conversions"], rel=1e-9
        )
        assert ch["(baseline)"]["spend"] is None
        for name in ("paid_search", "paid_social"):
            assert ch[name]["conversions"] == pytest.approx(plain[name]["conversions"], rel=1e-9)
        total = sum(c["conversions"] for c in body["channels"])
        assert total == pytest.approx(body["total_conversions"], rel=1e-9)
    # a lift test above the credit changes nothing but adds an empty baseline
    big = {"lift": {"paid_search": 1e6}}
    ch = by_channel(strict(client.post(URL, json={"calibration": big}, headers=h)))
    assert ch["paid_search"]["factor"] == 1 and ch["(baseline)"]["conversions"] == 0


def test_ordered_shapley_and_day_half_life(client):
    h = login(client, "vic")
    body = strict(client.post(URL, json={"model": "shapley_ordered"}, headers=h))
    pos = body["positions"]
    assert {"channel", "position", "conversions"} <= set(pos[0])
    assert sum(p["conversions"] for p in pos) == pytest.approx(body["total_conversions"])
    short, long = (
        by_channel(
            strict(client.post(URL, json={"model": "time_decay", "half_life_days": d}, headers=h))
        )
        for d in (0.01, 300)
    )
    assert sum(c["conversions"] for c in short.values()) == pytest.approx(
        sum(c["conversions"] for c in long.values())
    )
    # a short half-life moves credit to the touches closest to conversion: retargeting
    assert short["retargeting"]["conversions"] > long["retargeting"]["conversions"]


@pytest.mark.parametrize(
    "body",
    [
        {"calibration": {"lift": {"retargeting": -1}}},
        {"calibration": {"lift": {"retargeting": "lots"}}},
        {"calibration": {"iroas": {"retargeting": None}}},
        {"calibration": {"lift": {"": 1}}},
        {"calibration": {"lift": {f"c{i}": 1 for i in range(201)}}},
        {"calibration": {"lift": [1, 2]}},
        {"calibration": "retargeting=0"},
        {"calibration": {"lift": {"no_such_channel": 1}}},
        {"calibration": {"lift": {"retargeting": 1}, "iroas": {"retargeting": 1}}},
        {"money": {"yes": 1}},
        {"model": "shapley_ordered", "order": 9},
        {"model": "time_decay", "half_life_days": -3},
    ],
)
def test_hostile_bodies_are_422(client, body):
    r = client.post(URL, json=body, headers=login(client, "vic"))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error" and err["message"].startswith("invalid request")


def test_nan_and_infinity_literals_are_422(client):
    h = login(client, "vic") | {"content-type": "application/json"}
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = '{"calibration": {"iroas": {"retargeting": LIT}}}'.replace("LIT", literal)
        r = client.post(URL, content=raw, headers=h)
        assert r.status_code == 422, r.text
    r = client.post(URL, content='{"calibration": {"lift": {"zz": 1}}}', headers=h)
    assert "calibration.lift.zz" in r.json()["error"]["message"]
    assert "paid_search" in r.json()["error"]["message"]  # names the known channels
