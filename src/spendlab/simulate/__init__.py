"""A seeded synthetic market with known ground truth, for demos, tests and benchmarks.

    from spendlab.simulate import SimConfig, simulate, write_market

    market = simulate(SimConfig(seed=7))        # canonical frames + truth, in memory
    market.frames["ad_performance"]              # keyword / ad / campaign daily rows
    market.truth["channels"]["retargeting"]      # true iROAS 0, platform ROAS high
    manifest = write_market(market, "raw/")      # platform files + truth.json + manifest.json

See docs/simulate.md for the model and every truth field.
"""

from __future__ import annotations

from spendlab.simulate.config import DEFAULT_CHANNELS, ChannelSpec, SimConfig
from spendlab.simulate.export import write_market
from spendlab.simulate.simulation import LazyFrames, Market, simulate

__all__ = [
    "DEFAULT_CHANNELS",
    "ChannelSpec",
    "LazyFrames",
    "Market",
    "SimConfig",
    "simulate",
    "write_market",
]
