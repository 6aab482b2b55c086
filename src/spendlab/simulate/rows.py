"""Canonical ``ad_performance`` rows (keywords, ads, display campaigns, optionally by device) and
the ``entities`` table, built from the campaign-level daily arrays.

Splitting a campaign's day: each leaf (keyword / ad / the campaign) x device unit gets a weight
``base share x device share x lognormal(0, 0.3) daily jitter``, normalised within the campaign and
day. Spend is split in integer cents (floor, the remainder to the campaign's largest unit), so the
rows of a campaign-day sum *exactly* to the campaign spend the model used. Platform-reported
conversion value is split by ``spend x keyword quality`` (keywords differ in ROAS); conversions =
value / the campaign's average order value. Rows with no spend and no impressions are omitted, as
the platforms do.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from spendlab.simulate.simulation import Market

DEVICE_SHARES = {"desktop": 0.42, "mobile": 0.48, "tablet": 0.06, "tv": 0.02, "other": 0.02}


def _units(
    market: Market, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Units = leaves x devices: (leaf index, device index, base weight) and device names."""
    cfg = market.config
    leaves = market.catalog.leaves
    devices = list(cfg.devices) or [""]
    n_l, n_d = leaves.size, len(devices)
    if n_d > 1:
        prior = np.array([DEVICE_SHARES[d] for d in devices])
        dev = rng.dirichlet(prior / prior.sum() * 20.0, market.catalog.size)
        w = leaves.share[:, None] * dev[leaves.campaign]
    else:
        w = leaves.share[:, None]
    leaf = np.repeat(np.arange(n_l), n_d)
    device = np.tile(np.arange(n_d), n_l)
    return leaf, device, w.ravel(), devices


def split_rows(market: Market) -> dict[str, np.ndarray]:
    """Numeric (units x days) arrays of the ad_performance rows, before dropping empty rows."""
    cfg = market.config
    cat = market.catalog
    tab = cat.table
    rng = cfg.rng("rows")
    leaf, device, w, devices = _units(market, rng)
    camp = cat.leaves.campaign[leaf]
    n_u, n_t = leaf.size, cfg.days
    weight = w[:, None] * rng.lognormal(0.0, 0.3, (n_u, n_t))
    csum = np.zeros((cat.size, n_t))
    np.add.at(csum, camp, weight)
    weight /= csum[camp]
    cents = np.round(market.spend * 100.0).astype(np.int64)
    ucents = np.floor(weight * cents[camp]).astype(np.int64)
    done = np.zeros((cat.size, n_t), dtype=np.int64)
    np.add.at(done, camp, ucents)
    # the remainder (a few cents) goes to each campaign's largest unit
    big = np.zeros(cat.size, dtype=np.int64)
    order = np.lexsort((-w, camp))
    first_of = np.concatenate([[0], np.flatnonzero(np.diff(camp[order]) != 0) + 1])
    big[camp[order[first_of]]] = order[first_of]
    ucents[big] += cents - done
    spend = ucents / 100.0
    cpc = tab["cpc"].to_numpy()[camp][:, None] * rng.lognormal(0.0, 0.25, (n_u, 1))
    cpc = cpc * rng.lognormal(0.0, 0.15, (n_u, n_t))
    ctr = np.minimum(
        tab["ctr"].to_numpy()[camp][:, None] * rng.lognormal(0.0, 0.3, (n_u, 1))
        * rng.lognormal(0.0, 0.1, (n_u, n_t)),
        0.5,
    )  # fmt: skip
    impressions = np.round(spend / (cpc * ctr)).astype(np.int64)
    clicks = np.minimum(np.round(spend / cpc).astype(np.int64), impressions)
    q = cat.leaves.quality[leaf][:, None] * spend
    qsum = np.zeros((cat.size, n_t))
    np.add.at(qsum, camp, q)
    with np.errstate(invalid="ignore", divide="ignore"):
        vshare = np.where(qsum[camp] > 0, q / qsum[camp], 0.0)
    value = np.round(market.reported_value[camp] * vshare, 2)
    conversions = np.round(value / tab["aov"].to_numpy()[camp][:, None], 2)
    return {
        "leaf": leaf, "device": device, "campaign": camp,
        "devices": np.array(devices, dtype=object),
        "spend": spend, "impressions": impressions, "clicks": clicks, "conversion_value": value,
        "conversions": conversions,
    }  # fmt: skip


def ad_performance(market: Market) -> pd.DataFrame:
    """The canonical ad_performance frame (sorted by date, platform, campaign, leaf)."""
    cfg = market.config
    cat = market.catalog
    tab = cat.table
    r = split_rows(market)
    keep = (r["spend"] > 0) | (r["impressions"] > 0)
    t_idx, u_idx = np.nonzero(keep.T)
    leaf, camp = r["leaf"][u_idx], r["campaign"][u_idx]
    lv = cat.leaves

    def obj(values, idx: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=object)[idx]

    country = (
        tab["country"].to_numpy(dtype=object)
        if cfg.geos > 1
        else np.full(cat.size, "", dtype=object)
    )
    df = pd.DataFrame(
        {
            "date": market.dates.values[t_idx],
            "platform": obj(tab["platform"], camp),
            "level": obj(tab["level"], camp),
            "account_id": obj(tab["account_id"], camp),
            "account_name": obj(tab["account_name"], camp),
            "business_unit": obj(tab["business_unit"], camp),
            "code": obj(tab["code"], camp),
            "campaign_id": obj(tab["campaign_id"], camp),
            "campaign_name": obj(tab["campaign_name"], camp),
            "ad_group_id": obj(lv.ad_group_id, leaf),
            "ad_group_name": obj(lv.ad_group_name, leaf),
            "keyword_id": obj(lv.keyword_id, leaf),
            "keyword_text": obj(lv.keyword_text, leaf),
            "match_type": obj(lv.match_type, leaf),
            "ad_id": obj(lv.ad_id, leaf),
            "ad_name": obj(lv.ad_name, leaf),
            "country": country[camp],
            "device": r["devices"][r["device"][u_idx]],
            "currency": cfg.currency,
            "objective": obj(tab["objective"], camp),
            "lifecycle_stage": obj(tab["lifecycle_stage"], camp),
            "impressions": r["impressions"][u_idx, t_idx],
            "clicks": r["clicks"][u_idx, t_idx],
            "spend": r["spend"][u_idx, t_idx],
            "conversions": r["conversions"][u_idx, t_idx],
            "conversion_value": r["conversion_value"][u_idx, t_idx],
        }
    )
    return df


def entities(market: Market) -> pd.DataFrame:
    """Current state of every campaign, ad group, keyword and ad in ad_performance."""
    cfg = market.config
    cat = market.catalog
    tab = cat.table
    lv = cat.leaves
    rng = cfg.rng("entities")
    spend = market.spend
    last_week = spend[:, -7:].mean(axis=1)
    stopped = market.stop < cfg.days
    c_status = np.where(
        stopped,
        np.where(rng.random(cat.size) < 0.5, "removed", "paused"),
        np.where(spend[:, -1] > 0, "enabled", "paused"),
    )
    updated = pd.Timestamp(cfg.dates[-1].astype("datetime64[ns]")) + pd.Timedelta(days=1, hours=6)
    labels = [
        json.dumps([f"lifecycle:{a}", f"bu:{b}", f"theme:{c}"])
        for a, b, c in zip(tab["lifecycle_stage"], tab["business_unit"], tab["theme"], strict=True)
    ]
    rows = {
        "platform": tab["platform"].tolist(),
        "level": ["campaign"] * cat.size,
        "account_id": tab["account_id"].tolist(),
        "campaign_id": tab["campaign_id"].tolist(),
        "ad_group_id": [""] * cat.size,
        "keyword_id": [""] * cat.size,
        "ad_id": [""] * cat.size,
        "name": tab["campaign_name"].tolist(),
        "status": c_status.tolist(),
        "bid": [np.nan] * cat.size,
        "budget": np.round(np.maximum(last_week, tab["base_spend"].to_numpy()) * 1.25, 2).tolist(),
        "match_type": [None] * cat.size,
        "labels": labels,
    }
    is_leaf = np.array([g != "" for g in lv.ad_group_id])
    # ad groups: one row per distinct ad group id (leaves of a group are contiguous)
    gids = np.asarray(lv.ad_group_id, dtype=object)
    g_first = np.flatnonzero(is_leaf & np.r_[True, gids[1:] != gids[:-1]])
    for i in g_first:
        c = lv.campaign[i]
        kw = tab["level"].iat[c] == "keyword"
        _add(rows, tab, c, "ad_group", lv.ad_group_id[i], "", "", lv.ad_group_name[i],
             c_status[c] if c_status[c] != "enabled" else "enabled",
             round(float(tab["cpc"].iat[c]) * 1.3, 2) if kw else np.nan, None)  # fmt: skip
    k_status = np.where(rng.random(lv.size) < 0.05, "paused", "enabled")
    for i in np.flatnonzero(is_leaf):
        c = lv.campaign[i]
        st = k_status[i] if c_status[c] == "enabled" else c_status[c]
        if lv.keyword_id[i]:
            _add(rows, tab, c, "keyword", lv.ad_group_id[i], lv.keyword_id[i], "",
                 lv.keyword_text[i], st, float(lv.bid[i]), lv.match_type[i])  # fmt: skip
        else:
            _add(rows, tab, c, "ad", lv.ad_group_id[i], "", lv.ad_id[i], lv.ad_name[i], st,
                 np.nan, None)  # fmt: skip
    df = pd.DataFrame(rows)
    df["currency"] = cfg.currency
    df["updated_at"] = updated
    df["bid"] = df["bid"].astype(float)
    df["budget"] = df["budget"].astype(float)
    return df[["platform", "level", "account_id", "campaign_id", "ad_group_id", "keyword_id",
               "ad_id", "name", "status", "bid", "budget", "currency", "match_type", "labels",
               "updated_at"]]  # fmt: skip


def _add(rows, tab, c, level, gid, kid, aid, name, status, bid, match_type) -> None:
    vals = {
        "platform": tab["platform"].iat[c], "level": level, "account_id": tab["account_id"].iat[c],
        "campaign_id": tab["campaign_id"].iat[c], "ad_group_id": gid, "keyword_id": kid,
        "ad_id": aid, "name": name, "status": status, "bid": bid, "budget": np.nan,
        "match_type": match_type, "labels": None,
    }  # fmt: skip
    for k, v in vals.items():
        rows[k].append(v)
