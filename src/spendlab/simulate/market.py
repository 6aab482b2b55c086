"""The outcome: baseline (trend, seasonality, holidays, demand) + controls + media + noise, per geo.

Every component is recorded as a ``(geos, days)`` array, and the outcome is their sum, so
``baseline + controls + sum(contributions) + noise == outcome`` holds exactly (to float rounding).

``demand`` is the effect of unobserved demand shocks (``SimConfig.demand_shocks``): the baseline
``level x (trend + seasonality + holidays)`` is multiplied by ``exp(d[t])``, where ``d`` is a
smooth log-demand path no column of the data reveals; the ``demand`` component is the difference,
``level x (trend + seasonality + holidays) x (exp(d) - 1)``, exactly zero when ``demand_shocks``
is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spendlab.simulate.config import SimConfig
from spendlab.simulate.geo import geo_names, geo_weights
from spendlab.simulate.holidays import holiday_effects

CONTROL_NAMES = ("price", "promotion", "competitor_spend", "macro_index", "holiday")


@dataclass
class BaselineShape:
    """The baseline relative to its level (1 = the level), shared by every geo."""

    trend: np.ndarray
    weekly: np.ndarray
    yearly: np.ndarray
    holidays: np.ndarray
    holiday_indicator: np.ndarray
    events: list[dict]
    params: dict = field(default_factory=dict)
    demand: np.ndarray | None = None  # unobserved log-demand path (None: no demand shocks)

    @property
    def season_index(self) -> np.ndarray:
        """Relative deviation from the trend that spend follows when confounded: yearly
        seasonality + holidays, + ``exp(demand) - 1`` with demand shocks (the unobserved part)."""
        if self.demand is None:
            return self.yearly + self.holidays
        return self.yearly + self.holidays + np.expm1(self.demand)


#: Length of the centred moving average that smooths the demand random walk, days.
DEMAND_SMOOTHING_DAYS = 28


def demand_path(cfg: SimConfig) -> np.ndarray | None:
    """The unobserved log-demand path ``d[t]`` (None when ``cfg.demand_shocks`` is 0).

    A Gaussian random walk whose change over 365 days has standard deviation
    ``cfg.demand_shocks`` (daily steps ``N(0, demand_shocks^2 / 365)``), smoothed by a 28-day
    moving average (shocks build up over weeks, not overnight) and centred to mean 0 over the
    period. It draws from its own stream (``"demand"``), so no other draw changes.
    """
    if cfg.demand_shocks == 0:
        return None
    rng = cfg.rng("demand")
    n = DEMAND_SMOOTHING_DAYS
    walk = np.cumsum(rng.normal(0.0, cfg.demand_shocks / np.sqrt(365.0), cfg.days + n - 1))
    path = np.convolve(walk, np.full(n, 1.0 / n), mode="valid")
    return path - path.mean()


def baseline_shape(cfg: SimConfig) -> BaselineShape:
    """Trend (linear or piecewise), weekly + yearly Fourier seasonality and holidays."""
    rng = cfg.rng("baseline")
    t = np.arange(cfg.days, dtype=float)
    if cfg.trend == "linear":
        slope = float(rng.uniform(-0.04, 0.12))
        trend = 1.0 + slope * t / 365.0
        tparams = {"type": "linear", "slope_per_year": slope}
    else:
        k = 3
        cps = np.sort(rng.choice(np.arange(30, cfg.days - 30), size=k, replace=False))
        slopes = rng.uniform(-0.15, 0.25, k + 1)
        seg = np.searchsorted(cps, t, side="right")
        trend = 1.0 + np.concatenate([[0.0], np.cumsum(slopes[seg][:-1])]) / 365.0
        tparams = {
            "type": "piecewise",
            "changepoints": [int(c) for c in cps],
            "slopes_per_year": [float(s) for s in slopes],
        }
    dow = (np.datetime64(cfg.start, "D") + np.arange(cfg.days)).astype("datetime64[D]")
    weekday = (dow.astype(np.int64) + 3) % 7  # 0 = Monday
    doy = (dow - dow.astype("datetime64[Y]")).astype(np.int64)
    wc = rng.normal(0.0, 0.04, (2, 2))
    yc = rng.normal(0.0, 1.0, (3, 2)) * np.array([[0.10], [0.04], [0.02]])
    weekly = sum(
        wc[k, 0] * np.sin(2 * np.pi * (k + 1) * weekday / 7)
        + wc[k, 1] * np.cos(2 * np.pi * (k + 1) * weekday / 7)
        for k in range(2)
    )
    yearly = sum(
        yc[k, 0] * np.sin(2 * np.pi * (k + 1) * doy / 365.25)
        + yc[k, 1] * np.cos(2 * np.pi * (k + 1) * doy / 365.25)
        for k in range(3)
    )
    if cfg.holidays:
        hol, ind, events = holiday_effects(cfg.start_date, cfg.days)
    else:
        hol, ind, events = np.zeros(cfg.days), np.zeros(cfg.days), []
    params = {
        "trend": tparams,
        "weekly_fourier": {"order": 2, "sin_cos": wc.tolist(), "period_days": 7,
                           "phase": "weekday, 0 = Monday"},
        "yearly_fourier": {"order": 3, "sin_cos": yc.tolist(), "period_days": 365.25,
                           "phase": "day of year, 0 = 1 January"},
    }  # fmt: skip
    if cfg.demand_shocks > 0:
        params["demand"] = {
            "shocks_sd_per_year": cfg.demand_shocks,
            "smoothing_days": DEMAND_SMOOTHING_DAYS,
            "formula": "baseline = level * (trend + seasonality + holidays) * exp(d[t]), "
            "d a smoothed random walk with mean 0; the demand component (truth_daily.csv) is "
            "level * (trend + seasonality + holidays) * (exp(d) - 1)",
        }
    return BaselineShape(trend, np.asarray(weekly), np.asarray(yearly), hol, ind, events, params,
                         demand_path(cfg))  # fmt: skip


@dataclass
class Outcome:
    """Per-geo components (``geos x days``) and the parameters that made them."""

    geos: list[str]
    level: np.ndarray  # baseline level per geo
    trend: np.ndarray
    seasonality: np.ndarray
    holidays: np.ndarray
    controls: dict[str, np.ndarray]  # control name -> effect
    control_values: dict[str, np.ndarray]  # control name -> value
    control_params: dict[str, dict]
    media: np.ndarray  # sum of campaign contributions landing in each geo
    noise: np.ndarray
    noise_sd: np.ndarray
    demand: np.ndarray  # effect of the unobserved demand shocks (zeros without them)

    @property
    def baseline(self) -> np.ndarray:
        return self.trend + self.seasonality + self.holidays + self.demand

    @property
    def controls_total(self) -> np.ndarray:
        return sum(self.controls.values(), np.zeros_like(self.trend))

    @property
    def revenue(self) -> np.ndarray:
        return self.baseline + self.controls_total + self.media + self.noise


def _steps(rng: np.random.Generator, days: int, per_year: float, sd: float) -> np.ndarray:
    """A piecewise-constant log path: ~``per_year`` jumps a year of log-size ``sd``."""
    jumps = np.zeros(days)
    n = rng.poisson(per_year * days / 365.0)
    jumps[rng.integers(1, days, n)] += rng.normal(0.0, sd, n)
    return np.cumsum(jumps)


def build_outcome(
    cfg: SimConfig,
    shape: BaselineShape,
    media_by_geo: np.ndarray,
    media_daily_mean: float,
    total_spend_daily: np.ndarray,
) -> Outcome:
    """Scale the baseline so media drives ``cfg.media_share`` of revenue; add controls, noise."""
    rng = cfg.rng("controls")
    geos = geo_names(cfg.geos)
    w = geo_weights(cfg.geos)
    g_mult = cfg.rng("geo_scale").lognormal(0.0, 0.25, len(geos)) if cfg.geos > 1 else np.ones(1)
    share = w * g_mult / np.sum(w * g_mult)
    level_total = max(media_daily_mean, 1.0) * (1.0 - cfg.media_share) / cfg.media_share
    level = level_total * share
    L = level[:, None]
    days = cfg.days
    # controls: national paths, with a small constant deviation per geo
    geo_dev = 1.0 + (rng.normal(0.0, 0.03, (len(geos), 1)) if cfg.geos > 1 else 0.0)
    price = np.exp(_steps(rng, days, 2.0, 0.05) + rng.normal(0.0, 0.005, days))[None, :] * geo_dev
    promo = np.zeros(days)
    n_promo = max(1, rng.poisson(6 * days / 365))
    for s0, ln, depth in zip(
        rng.integers(0, days, n_promo), rng.integers(3, 11, n_promo),
        rng.choice([0.1, 0.15, 0.2, 0.3], n_promo), strict=True,
    ):  # fmt: skip
        promo[s0 : s0 + ln] = np.maximum(promo[s0 : s0 + ln], depth)
    promo = np.repeat(promo[None, :], len(geos), axis=0)
    comp_nat = (
        0.3
        * float(np.mean(total_spend_daily))
        * np.exp(_steps(rng, days, 4.0, 0.3) + rng.normal(0.0, 0.1, days))
    )
    comp = comp_nat[None, :] * share[:, None]
    comp_ref = comp.mean(axis=1, keepdims=True)
    macro = 100.0 + np.cumsum(rng.normal(0.0, 0.15, days))
    macro = np.repeat(macro[None, :], len(geos), axis=0)
    holiday = np.repeat(shape.holiday_indicator[None, :], len(geos), axis=0)
    coef = {
        "price": -1.2 * L,  # revenue per unit of price index above 1
        "promotion": 0.9 * L,  # per unit of discount depth
        "competitor_spend": -0.12 * L / comp_ref,  # per currency unit above the mean
        "macro_index": 0.01 * L,  # per index point above 100
    }
    ref = {"price": np.ones_like(L), "promotion": np.zeros_like(L), "competitor_spend": comp_ref,
           "macro_index": np.full_like(L, 100.0)}  # fmt: skip
    values = {"price": price, "promotion": promo, "competitor_spend": comp, "macro_index": macro,
              "holiday": holiday}  # fmt: skip
    effects = {k: coef[k] * (values[k] - ref[k]) for k in coef}
    params = {
        k: {"coef": coef[k][:, 0].tolist(), "ref": ref[k][:, 0].tolist(),
            "formula": "effect[geo, t] = coef[geo] * (value[geo, t] - ref[geo])"}
        for k in coef
    }  # fmt: skip
    params["holiday"] = {
        "coef": None,
        "ref": None,
        "formula": "event-day indicator; effect in baseline.holidays",
    }
    rng_noise = cfg.rng("noise")
    noise_sd = cfg.noise * level * rng_noise.lognormal(0.0, 0.2, len(geos))
    noise = rng_noise.normal(0.0, 1.0, (len(geos), days)) * noise_sd[:, None]
    trend = L * shape.trend[None, :]
    seasonality = L * (shape.weekly + shape.yearly)[None, :]
    holidays = L * shape.holidays[None, :]
    if shape.demand is None:
        demand = np.zeros_like(trend)
    else:
        demand = (trend + seasonality + holidays) * np.expm1(shape.demand)[None, :]
    return Outcome(
        geos=geos,
        level=level,
        trend=trend,
        seasonality=seasonality,
        holidays=holidays,
        controls=effects,
        control_values=values,
        control_params=params,
        media=media_by_geo,
        noise=noise,
        noise_sd=noise_sd,
        demand=demand,
    )
