"""Plain functions the CLI, REST API and web pages call: read a workspace's journeys and spend
(:func:`paths_and_spend`), pick a model by name, run it, compare all models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spendlab.core.jsonsafe import jsonable
from spendlab.errors import ConfigError
from spendlab.measure.attribution.base import AttributionModel
from spendlab.measure.attribution.calibration import BASELINE, calibrate, money
from spendlab.measure.attribution.data_driven import DataDrivenAttribution
from spendlab.measure.attribution.heuristics import (
    FirstTouch,
    LastNonDirect,
    LastTouch,
    Linear,
    PositionBased,
    TimeDecay,
    WShaped,
)
from spendlab.measure.attribution.markov import MarkovAttribution
from spendlab.measure.attribution.paths import PathCounts
from spendlab.measure.attribution.shapley import OrderedShapley, ShapleyAttribution

if TYPE_CHECKING:
    from spendlab.workspace import Workspace

MODELS = (
    "markov",
    "shapley",
    "shapley_ordered",
    "last_touch",
    "first_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position",
    "w_shaped",
    "data_driven",
)


def paths_and_spend(
    ws: Workspace,
    lookback_days: float = 30.0,
    granularity: str = "channel",
    drop: Sequence[str] = (),
    *,
    with_times: bool = False,
    with_spend: bool = True,
    read_only: bool = False,
) -> tuple[PathCounts, pd.DataFrame | None]:
    """The workspace's journeys as path counts (with touch times when ``with_times``, for a
    half-life in days) and its spend per channel or campaign (``granularity``; ``None`` without
    ``with_spend``), read under one warehouse connection that is closed on return. Spend counts
    each day once across report levels (:func:`~spendlab.measure.attribution.calibration.
    channel_spend`)."""
    from spendlab.measure.attribution.calibration import channel_spend
    from spendlab.measure.attribution.journeys import JourneyConfig, build_journeys, build_paths

    config = JourneyConfig(
        lookback_days=lookback_days, granularity=granularity, drop_channels=tuple(drop)
    )
    with ws.warehouse(read_only=read_only) as wh:
        paths = build_journeys(wh, config) if with_times else build_paths(wh, config)
        spend = channel_spend(wh, granularity=granularity) if with_spend else None
    return paths, spend


def make_model(
    name: str,
    *,
    order: int = 1,
    half_life: float = 2.0,
    half_life_days: float | None = None,
) -> AttributionModel:
    """A model by its CLI name (see ``MODELS``). ``time_decay`` uses ``half_life_days`` when
    given (journeys with touch times only), else ``half_life`` in touches."""
    factories: dict[str, Any] = {
        "markov": lambda: MarkovAttribution(order=order),
        "shapley": ShapleyAttribution,
        "shapley_ordered": OrderedShapley,
        "last_touch": LastTouch,
        "first_touch": FirstTouch,
        "last_non_direct": LastNonDirect,
        "linear": Linear,
        "time_decay": lambda: (
            TimeDecay(half_life=half_life)
            if half_life_days is None
            else TimeDecay(half_life=half_life_days, unit="days")
        ),
        "position": PositionBased,
        "w_shaped": WShaped,
        "data_driven": DataDrivenAttribution,
    }
    if name not in factories:
        raise ConfigError(f"unknown attribution model {name!r}; choose one of {', '.join(MODELS)}")
    return factories[name]()


def run_attribution(
    paths: PathCounts,
    model: str = "markov",
    *,
    order: int = 1,
    bootstrap: int = 0,
    level: float = 0.9,
    seed: int = 0,
    half_life: float = 2.0,
    half_life_days: float | None = None,
    spend: pd.DataFrame | Mapping[str, float] | None = None,
    lift: Mapping[str, float] | None = None,
    iroas: Mapping[str, float] | None = None,
    add_money: bool = True,
) -> dict[str, Any]:
    """Fit one model (and optionally bootstrap it); JSON-ready result (see ``to_dict``).

    ``lift`` (channel -> incremental conversions from a lift test) and ``iroas`` (channel -> MMM
    or experiment iROAS; needs ``spend``) calibrate the credits: see
    :func:`~spendlab.measure.attribution.calibration.calibrate` (a ``(baseline)`` row takes
    the credit no causal measurement supports). With ``spend`` (a ``channel``/``spend`` frame or
    a mapping) and ``add_money``, every channel row gains ``spend``, ``cpa``, ``roas`` (and
    ``cpa_lo``/``cpa_hi``/``roas_lo``/``roas_hi`` when bootstrapped); the baseline row has
    none. Infinite or undefined numbers (CPA with spend and no conversions, ROAS without spend)
    are ``None``, so the result is strict JSON.
    """
    m = make_model(model, order=order, half_life=half_life, half_life_days=half_life_days).fit(
        paths
    )
    if bootstrap:
        m.bootstrap(bootstrap, level=level, seed=seed)
    result = m.to_dict()
    lift, iroas = dict(lift or {}), dict(iroas or {})
    both = sorted(set(lift) & set(iroas))
    if both:
        raise ConfigError(
            f"channel(s) {', '.join(both)} have both a lift test and an iROAS; give one "
            "measurement per channel"
        )
    if isinstance(spend, pd.DataFrame):
        spend = dict(zip(spend["channel"], spend["spend"].astype(float), strict=True))
    credits = m.credits_
    if lift or iroas:
        credits = calibrate(credits, incremental_conversions=lift, iroas=iroas, spend=spend)
    if spend is not None and add_money:
        credits = money(credits, spend)
        base = (credits["channel"] == BASELINE).to_numpy()
        for col in ("spend", "cpa", "roas", "cpa_lo", "cpa_hi", "roas_lo", "roas_hi"):
            if col in credits:
                credits.loc[base, col] = np.nan
        result["total_spend"] = float(credits["spend"].sum())
    result["calibrated"] = bool(lift or iroas)
    result["channels"] = credits.to_dict(orient="records")
    return jsonable(result)


def compare_models(
    paths: PathCounts,
    models: tuple[str, ...] = MODELS,
    *,
    order: int = 1,
    bootstrap: int = 0,
    level: float = 0.9,
    seed: int = 0,
) -> pd.DataFrame:
    """Credits of every model side by side against last touch.

    Columns: ``model``, ``channel``, ``conversions``, ``value``, ``share``,
    ``last_touch_conversions``, ``vs_last_touch`` (conversions minus last touch's), and the
    ``*_lo``/``*_hi`` intervals when ``bootstrap`` > 0.
    """
    frames = []
    for name in models:
        m = make_model(name, order=order).fit(paths)
        if bootstrap:
            m.bootstrap(bootstrap, level=level, seed=seed)
        f = m.credits_.copy()
        f.insert(0, "model", m.name)
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    last = LastTouch().fit(paths).credits_.set_index("channel")["conversions"]
    out["last_touch_conversions"] = out["channel"].map(last).to_numpy()
    out["vs_last_touch"] = out["conversions"] - out["last_touch_conversions"]
    return out
