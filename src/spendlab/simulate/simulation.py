"""``simulate(config) -> Market``: the whole market in memory, with its ground truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from spendlab.simulate import rows
from spendlab.simulate.allocation import optimal_allocation
from spendlab.simulate.campaigns import Catalog, build_catalog
from spendlab.simulate.config import SimConfig
from spendlab.simulate.crm import CRM, simulate_crm
from spendlab.simulate.experiments import geo_test_result, holdout_result, plan_geo_test
from spendlab.simulate.journeys import Journeys, simulate_journeys
from spendlab.simulate.market import (
    CONTROL_NAMES,
    BaselineShape,
    Outcome,
    baseline_shape,
    build_outcome,
)
from spendlab.simulate.spend import spend_paths

FRAME_NAMES = (
    "ad_performance", "outcomes", "controls", "touchpoints", "conversions", "orders", "customers",
    "entities",
)  # fmt: skip


class LazyFrames(Mapping[str, pd.DataFrame]):
    """A read-only dict of canonical frames, each built on first access and then cached.

    Simulating 1,000 campaigns x 2 years takes seconds because the large keyword-level
    ``ad_performance`` frame is only materialised when someone asks for it.
    """

    def __init__(self, builders: dict[str, Callable[[], pd.DataFrame]]) -> None:
        self._builders = builders
        self._cache: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            try:
                builder = self._builders[name]
            except KeyError:
                raise KeyError(f"no frame {name!r}; frames: {', '.join(self._builders)}") from None
            self._cache[name] = builder()
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


@dataclass
class Market:
    """A simulated market: canonical frames (``frames``), ground truth (``truth``) and the arrays
    behind them (``spend`` and ``contributions`` are campaigns x days, rows ordered as
    ``catalog.table``)."""

    config: SimConfig
    dates: pd.DatetimeIndex
    catalog: Catalog
    shape: BaselineShape
    spend: np.ndarray
    contributions: np.ndarray
    reported_value: np.ndarray
    stop: np.ndarray
    outcome: Outcome
    journeys: Journeys
    crm: CRM
    experiments: list[dict]
    allocation: dict
    truth: dict = field(default_factory=dict)
    frames: LazyFrames = field(init=False)

    def __post_init__(self) -> None:
        self.frames = LazyFrames(
            {
                "ad_performance": lambda: rows.ad_performance(self),
                "outcomes": self._outcomes,
                "controls": self._controls,
                "touchpoints": lambda: self.journeys.touchpoints,
                "conversions": lambda: self.journeys.conversions,
                "orders": lambda: self.crm.orders,
                "customers": lambda: self.crm.customers,
                "entities": lambda: rows.entities(self),
            }
        )

    # -- frames ----------------------------------------------------------------------------
    def _long(self, values: dict[str, np.ndarray], key: str) -> pd.DataFrame:
        geos = self.outcome.geos
        parts = []
        for name, arr in values.items():
            parts.append(
                pd.DataFrame(
                    {
                        "date": np.tile(self.dates.values, len(geos)),
                        "geo": np.repeat(np.array(geos, dtype=object), len(self.dates)),
                        key: name,
                        "value": np.asarray(arr, dtype=float).ravel(),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True).sort_values(["date", "geo", key],
                                                               ignore_index=True)  # fmt: skip

    def _outcomes(self) -> pd.DataFrame:
        rev = self.outcome.revenue
        return self._long({"revenue": rev, "conversions": rev / self.config.aov}, "kpi")

    def _controls(self) -> pd.DataFrame:
        return self._long({k: self.outcome.control_values[k] for k in CONTROL_NAMES}, "name")

    # -- analysis helpers ------------------------------------------------------------------
    def components(self) -> pd.DataFrame:
        """Daily outcome components per geo: ``baseline = trend + seasonality + holidays +
        demand`` (``demand``: the unobserved demand shocks' effect, zero without them), one
        column per control effect, ``controls``, ``media`` (sum of contributions), one
        ``media_<spec>`` column per channel spec, ``noise`` and ``revenue`` (their sum)."""
        o = self.outcome
        cols: dict[str, np.ndarray] = {
            "trend": o.trend, "seasonality": o.seasonality, "holidays": o.holidays,
            "demand": o.demand, "baseline": o.baseline,
        }  # fmt: skip
        cols |= {f"control_{k}": v for k, v in o.controls.items()}
        cols |= {"controls": o.controls_total, "media": o.media}
        for spec, arr in self.media_by_geo_and_spec().items():
            cols[f"media_{spec}"] = arr
        cols |= {"noise": o.noise, "revenue": o.revenue}
        n_t = len(self.dates)
        df = pd.DataFrame(
            {
                "date": np.tile(self.dates.values, len(o.geos)),
                "geo": np.repeat(np.array(o.geos, dtype=object), n_t),
            }
        )
        for k, v in cols.items():
            df[k] = np.asarray(v).ravel()
        return df

    def geo_index(self) -> np.ndarray:
        """Outcome geo (row of ``outcome`` arrays) of every campaign."""
        if self.config.geos == 1:
            return np.zeros(self.catalog.size, dtype=int)
        return self.catalog.table["country_index"].to_numpy()

    def media_by_geo_and_spec(self) -> dict[str, np.ndarray]:
        g = self.geo_index()
        out = {}
        for s in self.config.channels:
            m = (self.catalog.table["spec"] == s.name).to_numpy()
            arr = np.zeros((len(self.outcome.geos), len(self.dates)))
            np.add.at(arr, g[m], self.contributions[m])
            out[s.name] = arr
        return out

    def campaign_daily(self) -> pd.DataFrame:
        """Long frame: date, campaign_id, spec, spend, true contribution, platform value."""
        tab = self.catalog.table
        n_c, n_t = self.spend.shape
        return pd.DataFrame(
            {
                "date": np.tile(self.dates.values, n_c),
                "campaign_id": np.repeat(tab["campaign_id"].to_numpy(dtype=object), n_t),
                "spec": np.repeat(tab["spec"].to_numpy(dtype=object), n_t),
                "spend": self.spend.ravel(),
                "contribution": self.contributions.ravel(),
                "reported_value": self.reported_value.ravel(),
            }
        )

    def weekly(self, complete_weeks: bool = True) -> dict[str, pd.DataFrame]:
        """Weekly versions (weeks start on Monday; ``date`` = the Monday) of ``ad_performance``
        (summed per entity), ``outcomes`` (summed), ``controls`` (averaged) and ``components``
        (summed). ``complete_weeks`` drops partial first/last weeks."""
        from spendlab.simulate.weekly import to_weekly

        return to_weekly(self, complete_weeks)


def simulate(cfg: SimConfig | None = None, **overrides) -> Market:
    """Simulate a market; ``simulate(seed=3, days=120)`` is ``simulate(SimConfig(...))``."""
    if cfg is None:
        cfg = SimConfig(**overrides)
    elif overrides:
        import dataclasses

        cfg = dataclasses.replace(cfg, **overrides)
    from spendlab.simulate.truth import build_truth

    shape = baseline_shape(cfg)
    catalog = build_catalog(cfg)
    params = catalog.params
    plan = plan_geo_test(cfg, catalog)
    boost = plan.boost(cfg.days) if plan is not None else None
    channel_code = pd.factorize(catalog.table["channel"])[0]
    paths = spend_paths(cfg, catalog.table["base_spend"].to_numpy(), shape.season_index, boost,
                        channel_code)  # fmt: skip
    contrib = params.contribution(paths.spend)
    geo_idx = (
        catalog.table["country_index"].to_numpy()
        if cfg.geos > 1
        else np.zeros(catalog.size, dtype=int)
    )
    media_by_geo = np.zeros((cfg.geos, cfg.days))
    np.add.at(media_by_geo, geo_idx, contrib)
    outcome = build_outcome(
        cfg, shape, media_by_geo, float(contrib.sum(axis=0).mean()), paths.spend.sum(axis=0)
    )
    rng = cfg.rng("platform")
    tab = catalog.table
    jitter = rng.lognormal(0.0, 0.15, paths.spend.shape)
    reported = (
        np.where(
            tab["incremental"].to_numpy()[:, None],
            tab["overclaim"].to_numpy()[:, None] * contrib,
            tab["claimed_roas"].to_numpy()[:, None] * paths.spend,
        )
        * jitter
    )
    journeys = simulate_journeys(cfg, catalog, paths.spend)
    experiments = []
    if cfg.holdout_channel in journeys.channels:  # a holdout of a channel that exists
        window = (journeys.holdout["start_day"], journeys.holdout["end_day"])
        experiments.append(
            holdout_result(cfg, journeys.users, journeys.effects, journeys.b0, window)
        )
    if plan is not None:
        cf = params.subset(plan.campaigns).contribution(paths.counterfactual[plan.campaigns])
        experiments.append(
            geo_test_result(cfg, plan, contrib, cf, paths.spend, paths.counterfactual,
                            outcome.noise_sd, outcome.geos)
        )  # fmt: skip
    by_channel = tab.assign(s=paths.spend.sum(axis=1)).groupby("channel")["s"].sum().to_dict()
    crm = simulate_crm(cfg, outcome.revenue.sum(axis=0), by_channel)
    actual = paths.spend.mean(axis=1)
    budget = cfg.budget if cfg.budget is not None else float(actual.sum())
    allocation = optimal_allocation(params, budget)
    allocation["actual"] = actual
    allocation["budget"] = budget
    market = Market(
        config=cfg,
        dates=pd.DatetimeIndex(cfg.dates.astype("datetime64[ns]"), name="date"),
        catalog=catalog,
        shape=shape,
        spend=paths.spend,
        contributions=contrib,
        reported_value=reported,
        stop=paths.stop,
        outcome=outcome,
        journeys=journeys,
        crm=crm,
        experiments=experiments,
        allocation=allocation,
    )
    market.truth = build_truth(market)
    return market
