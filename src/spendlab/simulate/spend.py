"""Daily spend paths of every campaign (campaigns x days), vectorized.

``spend[c, t] = base[c] x trend x weekly pattern x flights/pauses x budget changes x launch/stop
x confounding x noise``, rounded to cents. With ``confounding = k`` spend is multiplied by
``max(0.1, 1 + 1.5 k season_index[t])`` where ``season_index`` is the baseline's yearly
seasonality + holidays relative to its level, plus ``exp(d[t]) - 1`` for the unobserved demand
shocks ``d`` (``SimConfig.demand_shocks``): spend rises when demand rises anyway, the trap an MMM
must calibrate away. Seasonality and holidays an MMM can model (Fourier terms, event columns); the
demand shocks it cannot, which is what makes lift-test calibration necessary. The geo test
multiplies the spend of its campaigns by ``1 + lift`` inside the test window.

With ``cfg.flighting`` every campaign of a channel also follows its channel's plan (what marketers
do, and what makes channels identifiable in an MMM): budget steps (a new log-normal level,
sd 0.5, every 3-10 weeks), a seasonal budget ``exp(a sin(2 pi t / 365 + phase))`` with its own
phase, and dark periods (~4 a year, 1-4 weeks) when the whole channel is off. It draws from its
own random stream, so the other draws (and every market with ``flighting=False``) are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spendlab.simulate.config import SimConfig


@dataclass
class SpendPaths:
    spend: np.ndarray  # actual daily spend (campaigns x days), cents-rounded
    counterfactual: np.ndarray  # the same without the geo-test boost
    launch: np.ndarray  # first day each campaign runs
    stop: np.ndarray  # last day + 1


def _events_mask(
    rng: np.random.Generator, n: int, days: int, rate: float, lo: int, hi: int
) -> np.ndarray:
    """(n, days) boolean: True inside random intervals (Poisson count per row)."""
    counts = rng.poisson(rate, n)
    rows = np.repeat(np.arange(n), counts)
    starts = rng.integers(0, days, rows.size)
    ends = np.minimum(starts + rng.integers(lo, hi + 1, rows.size), days)
    diff = np.zeros((n, days + 1))
    np.add.at(diff, (rows, starts), 1.0)
    np.add.at(diff, (rows, ends), -1.0)
    return np.cumsum(diff[:, :days], axis=1) > 0


def channel_flights(cfg: SimConfig, n_channels: int) -> np.ndarray:
    """``(channels, days)`` multipliers of the channel plans (see the module docstring)."""
    rng = cfg.rng("flighting")
    days = cfg.days
    t = np.arange(days)
    out = np.ones((n_channels, days))
    for k in range(n_channels):
        level = np.empty(days)
        start = 0
        while start < days:
            length = int(rng.integers(21, 71))
            level[start : start + length] = rng.lognormal(0.0, 0.5)
            start += length
        amp, phase = rng.uniform(0.1, 0.35), rng.uniform(0.0, 2 * np.pi)
        seasonal = np.exp(amp * np.sin(2 * np.pi * t / 365.0 + phase))
        dark = _events_mask(rng, 1, days, 4.0 * days / 365.0, 7, 28)[0]
        out[k] = level * seasonal * ~dark
    return out


def spend_paths(
    cfg: SimConfig,
    base: np.ndarray,
    season_index: np.ndarray,
    boost: np.ndarray | None = None,
    channel: np.ndarray | None = None,
) -> SpendPaths:
    """Draw every campaign's spend; ``boost`` (campaigns x days) multiplies the actual spend;
    ``channel`` (an integer code per campaign) groups campaigns for ``cfg.flighting``."""
    rng = cfg.rng("spend")
    n, days = base.size, cfg.days
    t = np.arange(days)
    years = days / 365.0
    growth = rng.normal(0.0, 0.3, n)
    trend = np.exp(growth[:, None] * t[None, :] / days)
    weekday = (np.datetime64(cfg.start, "D").astype(np.int64) + 3 + t) % 7
    amp = rng.uniform(0.0, 0.25, n)
    phase = rng.uniform(0.0, 7.0, n)
    weekly = 1.0 + amp[:, None] * np.cos(2 * np.pi * (weekday[None, :] + phase[:, None]) / 7)
    # pauses (flights) for a quarter of campaigns
    flighted = rng.random(n) < 0.25
    paused = _events_mask(rng, n, days, 2.0 * years, 3, 20) & flighted[:, None]
    # budget changes: ~3 a year, each a lognormal step
    jumps = np.zeros((n, days))
    k = rng.poisson(3.0 * years, n)
    rows = np.repeat(np.arange(n), k)
    np.add.at(jumps, (rows, rng.integers(1, days, rows.size)), rng.normal(0.0, 0.25, rows.size))
    budget = np.exp(np.cumsum(jumps, axis=1))
    # launches and stops
    launch = np.where(rng.random(n) < 0.15, rng.integers(0, days // 2, n), 0)
    stop = np.where(rng.random(n) < 0.10, rng.integers(days // 2, days, n), days)
    live = (t[None, :] >= launch[:, None]) & (t[None, :] < stop[:, None])
    confound = np.maximum(0.1, 1.0 + 1.5 * cfg.confounding * season_index)[None, :]
    noise = rng.lognormal(0.0, 0.12, (n, days))
    path = base[:, None] * trend * weekly * budget * confound * noise * (live & ~paused)
    if cfg.flighting:
        code = np.zeros(n, dtype=int) if channel is None else np.asarray(channel, dtype=int)
        path = path * channel_flights(cfg, int(code.max()) + 1)[code]
    counterfactual = np.round(path * 100.0) / 100.0
    spend = counterfactual if boost is None else np.round(path * boost * 100.0) / 100.0
    return SpendPaths(spend, counterfactual, launch, stop)
