"""The campaign catalog: campaigns of every channel with their hierarchy (ad groups, keywords, ads),
names, accounts, business attributes and true media parameters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spendlab.simulate import names as nm
from spendlab.simulate.config import SimConfig
from spendlab.simulate.geo import assign_countries
from spendlab.simulate.media import MediaParams, draw_params

ACCOUNT_NAMES = {
    "google_ads": "Northpeak - Google Ads",
    "meta": "Northpeak Outdoor",
    "microsoft": "Northpeak - Microsoft Advertising",
}


@dataclass
class Leaves:
    """The finest rows of ``ad_performance``: keywords, ads, or the campaign itself.

    Leaves are sorted by campaign (each campaign's leaves are contiguous, starting at
    ``first[c]``). ``share`` is the leaf's base share of its campaign's spend, ``quality`` its
    relative conversion rate (keywords differ in ROAS).
    """

    campaign: np.ndarray
    first: np.ndarray
    share: np.ndarray
    quality: np.ndarray
    ad_group_id: list[str]
    ad_group_name: list[str]
    keyword_id: list[str]
    keyword_text: list[str]
    match_type: list[str]
    ad_id: list[str]
    ad_name: list[str]
    bid: np.ndarray  # keyword max CPC (nan for ads / campaigns)

    @property
    def size(self) -> int:
        return int(self.campaign.size)


@dataclass
class Catalog:
    table: pd.DataFrame  # one row per campaign (see build_catalog)
    spec_index: np.ndarray
    params: MediaParams
    leaves: Leaves
    countries: list[str]  # names indexed by table.country_index

    @property
    def size(self) -> int:
        return len(self.table)


def allocate_counts(weights: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` campaigns by weight (largest remainder), at least one per channel."""
    w = np.asarray(weights, dtype=float)
    extra = total - w.size
    raw = w / w.sum() * extra
    counts = np.floor(raw).astype(int)
    rest = extra - counts.sum()
    counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    return counts + 1


def _ids(rng: np.random.Generator, n: int, base: int) -> list[str]:
    """``n`` unique, increasing, random-looking numeric ids above ``base``."""
    return [str(v) for v in base + np.cumsum(rng.integers(1, 5000, n))]


def build_catalog(cfg: SimConfig) -> Catalog:
    """Draw every campaign: which channel, names, country, hierarchy, spend level and transforms."""
    rng = cfg.rng("campaigns")
    specs = cfg.channels
    counts = allocate_counts(np.array([s.weight for s in specs]), cfg.campaigns)
    spec_index = np.repeat(np.arange(len(specs)), counts)
    country_index, countries = assign_countries(cfg.rng("geos"), spec_index, cfg.geos)
    rows: dict[str, list] = {k: [] for k in ("name", "theme", "product", "business_unit", "code",
                                             "lifecycle")}  # fmt: skip
    mults = {k: np.ones(cfg.campaigns) for k in ("roas", "overclaim", "spend")}
    account_id = np.empty(cfg.campaigns, dtype=object)
    account_name = np.empty(cfg.campaigns, dtype=object)
    for si, s in enumerate(specs):
        idx = np.flatnonzero(spec_index == si)
        cn = nm.campaign_names(
            rng, s.campaign_type, s.level, [countries[c] for c in country_index[idx]]
        )
        for k in rows:
            rows[k].extend(getattr(cn, k))
        mults["roas"][idx] = cn.roas_mult
        mults["overclaim"][idx] = cn.overclaim_mult
        mults["spend"][idx] = cn.spend_mult
        account_id[idx] = str(int(rng.integers(1_000_000_000, 9_999_999_999)))
        account_name[idx] = ACCOUNT_NAMES.get(s.platform, f"Northpeak - {s.platform}")
        if s.campaign_type == "Display":
            account_name[idx] = f"{account_name[idx][0]} (Display)"
    n = cfg.campaigns
    spec_spend = np.array([specs[i].spend for i in spec_index])
    base_spend = spec_spend * mults["spend"] * rng.lognormal(0.0, 0.5, n)
    roas = (
        np.array([specs[i].roas for i in spec_index])
        * mults["roas"]
        * rng.lognormal(0.0, 1.0, n) ** np.array([specs[i].roas_sd for i in spec_index])
    )
    incremental = np.array([specs[i].incremental for i in spec_index])
    overclaim = 1.0 + (np.array([specs[i].overclaim for i in spec_index]) - 1.0) * mults[
        "overclaim"
    ] * rng.lognormal(0.0, 0.25, n)
    params = draw_params(
        rng,
        base_spend,
        roas,
        np.array([specs[i].carryover[0] for i in spec_index]),
        np.array([specs[i].carryover[1] for i in spec_index]),
        incremental,
        cfg.geometric_share,
        cfg.hill_share,
        cfg.max_lag,
    )
    table = pd.DataFrame(
        {
            "spec": [specs[i].name for i in spec_index],
            "channel": [specs[i].channel for i in spec_index],
            "platform": [specs[i].platform for i in spec_index],
            "campaign_type": [specs[i].campaign_type for i in spec_index],
            "level": [specs[i].level for i in spec_index],
            "account_id": account_id,
            "account_name": account_name,
            "campaign_id": _ids(rng, n, 20_000_000_000),
            "campaign_name": nm.dedupe(rows["name"]),
            "country_index": country_index,
            "country": [countries[c] for c in country_index],
            "business_unit": rows["business_unit"],
            "code": rows["code"],
            "objective": [specs[i].objective for i in spec_index],
            "lifecycle_stage": rows["lifecycle"],
            "theme": rows["theme"],
            "product": rows["product"],
            "base_spend": base_spend,
            "roas_target": np.where(incremental, roas, 0.0),
            "incremental": incremental,
            "overclaim": overclaim,
            "claimed_roas": np.array([specs[i].claimed_roas for i in spec_index])
            * rng.lognormal(0.0, 0.2, n),
            "aov": cfg.aov * rng.lognormal(0.0, 0.2, n),
            "cpc": np.array([specs[i].cpc for i in spec_index]) * rng.lognormal(0.0, 0.3, n),
            "ctr": np.array([specs[i].ctr for i in spec_index]) * rng.lognormal(0.0, 0.3, n),
        }
    )
    leaves = build_leaves(cfg, rng, table)
    return Catalog(table, spec_index, params, leaves, countries)


def build_leaves(cfg: SimConfig, rng: np.random.Generator, table: pd.DataFrame) -> Leaves:
    """Ad groups and keywords (search), ad sets and ads (social), or the campaign (display)."""
    per = np.where(
        table["level"] == "keyword",
        cfg.ad_groups_per_campaign * cfg.keywords_per_ad_group,
        np.where(table["level"] == "ad", cfg.ad_groups_per_campaign * cfg.ads_per_ad_set, 1),
    )
    campaign = np.repeat(np.arange(len(table)), per)
    first = np.concatenate([[0], np.cumsum(per)[:-1]])
    gamma = rng.gamma(0.8, 1.0, campaign.size) + 1e-3
    share = gamma / np.bincount(campaign, weights=gamma)[campaign]
    quality = rng.lognormal(0.0, 0.6, campaign.size)
    n_groups = int((table["level"] != "campaign").sum()) * cfg.ad_groups_per_campaign
    ag_ids = iter(_ids(rng, n_groups, 140_000_000_000))
    kw_ids = iter(_ids(rng, int(campaign.size), 300_000_000_000))
    ad_ids = iter(_ids(rng, int(campaign.size), 600_000_000_000))
    out: dict[str, list[str]] = {k: [] for k in ("agi", "agn", "kwi", "kwt", "mt", "adi", "adn")}
    for row in table.itertuples(index=False):
        if row.level == "campaign":
            for k in out:
                out[k].append("")
            continue
        groups = nm.ad_group_names(row.theme, row.product, cfg.ad_groups_per_campaign)
        for g, gname in enumerate(groups):
            gid = next(ag_ids)
            if row.level == "keyword":
                kws = nm.keyword_texts(row.theme, row.product, g, cfg.keywords_per_ad_group)
                mts = nm.match_types(row.theme, len(kws), g)
                for text, mt in zip(kws, mts, strict=True):
                    _append(out, gid, gname, next(kw_ids), text, mt, "", "")
            else:
                for name in nm.ad_names(row.product, g, cfg.ads_per_ad_set):
                    _append(out, gid, gname, "", "", "", next(ad_ids), name)
    is_kw = table["level"].to_numpy()[campaign] == "keyword"
    cpc = table["cpc"].to_numpy()[campaign]
    bid = np.where(is_kw, np.round(cpc * rng.uniform(1.1, 2.0, campaign.size), 2), np.nan)
    return Leaves(
        campaign, first, share, quality, out["agi"], out["agn"], out["kwi"], out["kwt"],
        out["mt"], out["adi"], out["adn"], bid,
    )  # fmt: skip


def _append(out: dict[str, list[str]], *vals: str) -> None:
    for key, v in zip(("agi", "agn", "kwi", "kwt", "mt", "adi", "adn"), vals, strict=True):
        out[key].append(v)
