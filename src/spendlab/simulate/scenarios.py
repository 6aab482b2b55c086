"""Ready-made simulator set-ups for model tests and benchmarks."""

from __future__ import annotations

import dataclasses

from spendlab.simulate.config import DEFAULT_CHANNELS, ChannelSpec, SimConfig

#: Four incremental channels (search, social, a second search engine, display) for MMM recovery,
#: with comparable budgets:
#: the defaults, with Microsoft search as its own channel and display instead of retargeting
#: (whose true effect is zero, so a relative iROAS error is undefined).
MMM_CHANNELS: tuple[ChannelSpec, ...] = (
    dataclasses.replace(DEFAULT_CHANNELS[0], weight=0.4),
    dataclasses.replace(DEFAULT_CHANNELS[1], weight=0.25),
    dataclasses.replace(DEFAULT_CHANNELS[2], channel="bing_search", weight=0.2, spend=300.0),
    ChannelSpec("display", "display", "google_ads", "Display", "campaign", 0.15, 400.0, 1.3,
                carryover=(0.3, 0.7), cpc=0.6, ctr=0.004, medium="display"),
)  # fmt: skip


def mmm_scenario(seed: int = 0, years: int = 3, confounding: float = 0.0, **overrides) -> SimConfig:
    """A national market with channel-wide flighting (identifiable channels), small journey and
    CRM parts (not needed by an MMM), ``years`` of daily data from 2022-01-03 (a Monday)."""
    base = dict(seed=seed, days=365 * years, start="2022-01-03", campaigns=40, users=2000,
                customers=200, channels=MMM_CHANNELS, confounding=confounding, flighting=True,
                geo_test_channel="meta_social")  # fmt: skip
    base.update(overrides)
    return SimConfig(**base)
