"""Configuration of the simulated market: :class:`SimConfig` and the channel mix it draws from.

Every random draw comes from a :class:`numpy.random.Generator` seeded by
``SeedSequence(seed, spawn_key=(stream,))`` where ``stream`` is a fixed number per component
(:data:`STREAMS`), so changing the size of one part (more users, more customers) never changes
the draws of another (campaigns, spend, baseline).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spendlab.errors import ConfigError

#: One independent random stream per component; never renumber (it would change every market).
STREAMS: dict[str, int] = {
    "campaigns": 1,
    "spend": 2,
    "baseline": 3,
    "controls": 4,
    "noise": 5,
    "platform": 6,
    "rows": 7,
    "journeys": 8,
    "holdout": 9,
    "geo_test": 10,
    "crm": 11,
    "entities": 12,
    "geos": 13,
    "geo_scale": 14,
    "flighting": 15,
    "demand": 16,
}


@dataclass(frozen=True)
class ChannelSpec:
    """One kind of campaign: where it runs, how it is structured and how well it works.

    ``incremental=False`` makes a channel whose true effect is exactly zero (``beta = 0``) while
    the platform still claims ``claimed_roas`` per unit of spend: the retargeting trap.
    """

    name: str
    channel: str
    platform: str
    campaign_type: str
    level: str  # finest level of its ad_performance rows: keyword, ad or campaign
    weight: float  # share of campaigns
    spend: float  # mean base daily spend of one campaign (currency units)
    roas: float  # median true iROAS at the campaign's base spend
    roas_sd: float = 0.5  # log-sd of the iROAS across campaigns
    carryover: tuple[float, float] = (0.1, 0.6)  # range of the adstock decay alpha
    overclaim: float = 1.6  # mean platform over-claim factor (> 1)
    incremental: bool = True
    claimed_roas: float = 0.0  # platform ROAS claimed by a non-incremental channel
    journey_effect: float = 0.0  # log-odds effect of being exposed, in the journey model
    cpc: float = 1.0
    ctr: float = 0.03
    source: str = "google"
    medium: str = "cpc"
    objective: str = "sales"


DEFAULT_CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec(
        "google_search", "paid_search", "google_ads", "Search", "keyword", 0.67, 320.0, 2.4,
        carryover=(0.05, 0.45), overclaim=1.5, journey_effect=0.9, cpc=1.4, ctr=0.05,
    ),
    ChannelSpec(
        "meta_social", "paid_social", "meta", "Social", "ad", 0.20, 420.0, 1.8,
        carryover=(0.3, 0.8), overclaim=2.0, journey_effect=0.6, cpc=0.9, ctr=0.012,
        source="facebook", medium="paid_social", objective="sales",
    ),
    ChannelSpec(
        "microsoft_search", "paid_search", "microsoft", "Search", "keyword", 0.10, 140.0, 2.0,
        carryover=(0.05, 0.45), overclaim=1.4, journey_effect=0.9, cpc=1.1, ctr=0.045,
        source="bing", medium="cpc",
    ),
    ChannelSpec(
        "retargeting", "retargeting", "google_ads", "Display", "campaign", 0.03, 260.0, 0.0,
        carryover=(0.1, 0.5), incremental=False, claimed_roas=6.0, cpc=0.6, ctr=0.004,
        medium="display",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines a simulated market. Same config (and seed), same market.

    Sizes: ``days`` of daily data from ``start``; ``campaigns`` split over ``channels`` by weight
    (every channel gets at least one); keyword campaigns have ``ad_groups_per_campaign`` ad groups
    of ``keywords_per_ad_group`` keywords, social campaigns ``ad_groups_per_campaign`` ad sets of
    ``ads_per_ad_set`` ads; ``geos`` outcome geographies (1 = one national outcome); ``users``
    journeys; ``customers`` CRM customers. See docs/simulate.md for every field.
    """

    seed: int = 0
    days: int = 365
    start: str = "2024-01-01"
    campaigns: int = 60
    geos: int = 1
    ad_groups_per_campaign: int = 3
    keywords_per_ad_group: int = 5
    ads_per_ad_set: int = 2
    devices: tuple[str, ...] = ()
    users: int = 20_000
    customers: int = 5_000
    currency: str = "USD"
    channels: tuple[ChannelSpec, ...] = DEFAULT_CHANNELS
    # media
    geometric_share: float = 0.7  # share of campaigns with geometric adstock (rest: delayed)
    hill_share: float = 0.6  # share of campaigns with Hill saturation (rest: logistic)
    max_lag: int = 14  # kernel length of the delayed adstock, days
    confounding: float = 0.3  # 0..1: how much spend follows the baseline's seasonality
    demand_shocks: float = 0.0  # sd per year of an unobserved log-demand random walk (0 = none)
    flighting: bool = False  # channel-wide flights: budget steps, seasonal budgets, dark weeks
    media_share: float = 0.3  # target share of revenue driven by media (sets the baseline level)
    budget: float | None = None  # daily budget for the optimal allocation (default: actual mean)
    # outcome
    trend: str = "linear"  # "linear" or "piecewise"
    noise: float = 0.04  # noise sd as a share of the baseline level
    holidays: bool = True
    aov: float = 80.0  # revenue per conversion: the `conversions` KPI is revenue / aov
    # journeys
    base_conversion_rate: float = 0.03
    exposures_per_user: float = 2.0
    retargeting_before_conversion: float = 0.7  # share of converters shown retargeting last
    retargeting_non_converters: float = 0.04
    # experiments
    holdout_channel: str = "paid_social"
    holdout_fraction: float = 0.2
    holdout_weeks: int = 8
    geo_test_channel: str = "meta_social"  # a ChannelSpec name
    geo_test_lift: float = 0.5  # +50% spend in test geos
    geo_test_weeks: int = 4
    # CRM (BG/NBD + Gamma-Gamma population parameters)
    crm_r: float = 0.9
    crm_alpha: float = 60.0
    crm_a: float = 0.8
    crm_b: float = 2.5
    crm_p: float = 6.0
    crm_q: float = 4.0
    crm_gamma: float = 40.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self)

    # -- derived -----------------------------------------------------------------------------
    @property
    def start_date(self) -> dt.date:
        return dt.date.fromisoformat(self.start)

    @property
    def dates(self) -> np.ndarray:
        """The simulated days as ``datetime64[D]``."""
        return np.datetime64(self.start, "D") + np.arange(self.days)

    def rng(self, stream: str) -> np.random.Generator:
        """The generator of one component (see :data:`STREAMS`)."""
        return np.random.default_rng(
            np.random.SeedSequence(self.seed, spawn_key=(STREAMS[stream],))
        )

    def spec(self, name: str) -> ChannelSpec:
        for s in self.channels:
            if s.name == name:
                return s
        raise ConfigError(
            f"no channel spec named {name!r}; specs: {', '.join(s.name for s in self.channels)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy (tuples become lists)."""
        return dataclasses.asdict(self)


def _check(cfg: SimConfig) -> None:
    try:
        dt.date.fromisoformat(cfg.start)
    except (TypeError, ValueError):
        raise ConfigError(f"start {cfg.start!r} is not a date; use YYYY-MM-DD") from None
    if cfg.days < 28:
        raise ConfigError(f"days={cfg.days} is too short; simulate at least 28 days")
    if cfg.campaigns < len(cfg.channels):
        raise ConfigError(
            f"campaigns={cfg.campaigns} is fewer than the {len(cfg.channels)} channels; "
            f"ask for at least {len(cfg.channels)} campaigns"
        )
    if len({s.name for s in cfg.channels}) != len(cfg.channels):
        raise ConfigError("channel spec names must be unique")
    from spendlab.simulate.geo import GEO_POPULATIONS

    if not 1 <= cfg.geos <= len(GEO_POPULATIONS):
        raise ConfigError(f"geos must be between 1 and {len(GEO_POPULATIONS)}, got {cfg.geos}")
    for name in ("confounding", "geometric_share", "hill_share", "holdout_fraction"):
        if not 0 <= getattr(cfg, name) <= 1:
            raise ConfigError(f"{name} must be between 0 and 1, got {getattr(cfg, name)}")
    if not 0 <= cfg.demand_shocks <= 1:
        raise ConfigError(
            f"demand_shocks must be between 0 and 1 (sd per year of log-demand, e.g. 0.2), "
            f"got {cfg.demand_shocks}"
        )
    if not 0 < cfg.media_share < 1:
        raise ConfigError(f"media_share must be in (0, 1), got {cfg.media_share}")
    if cfg.trend not in ("linear", "piecewise"):
        raise ConfigError(f"trend must be 'linear' or 'piecewise', got {cfg.trend!r}")
    if cfg.users < 0 or cfg.customers < 0:
        raise ConfigError("users and customers must be >= 0")
    if min(cfg.ad_groups_per_campaign, cfg.keywords_per_ad_group, cfg.ads_per_ad_set) < 1:
        raise ConfigError("ad groups, keywords and ads per parent must be >= 1")
    from spendlab.core.hierarchy import DEVICES

    bad = [d for d in cfg.devices if d not in DEVICES]
    if bad:
        raise ConfigError(f"unknown devices {bad}; use {sorted(DEVICES)}")
    for s in cfg.channels:
        if s.level not in ("keyword", "ad", "campaign"):
            raise ConfigError(f"channel {s.name!r}: level must be keyword, ad or campaign")
    if cfg.budget is not None and cfg.budget <= 0:
        raise ConfigError(f"budget must be > 0, got {cfg.budget}")
