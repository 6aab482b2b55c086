"""Attribution and customer journeys.

    from spendlab.measure.attribution import build_paths, read_paths, MarkovAttribution
    paths = build_paths(warehouse, JourneyConfig(lookback_days=30, drop_channels=("direct",)))
    model = MarkovAttribution(order=2).fit(paths)
    model.credits_            # channel, conversions, value, share, removal_effect
    model.bootstrap(200)      # adds 90% percentile intervals

See docs/attribution.md for the models, when to trust which, and why attribution is not
incrementality.
"""

from __future__ import annotations

from spendlab.measure.attribution.api import (
    MODELS,
    compare_models,
    make_model,
    paths_and_spend,
    run_attribution,
)
from spendlab.measure.attribution.base import AttributionModel
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
from spendlab.measure.attribution.markov import MarkovAttribution, MarkovChain
from spendlab.measure.attribution.paths import PathCounts, from_frame, read_paths
from spendlab.measure.attribution.shapley import OrderedShapley, ShapleyAttribution

_LAZY = {
    "JourneyConfig",
    "build_journeys",
    "build_paths",
    "journey_summary",
    "journey_table",
    "path_counts_expr",
}


def __getattr__(name: str) -> object:
    """Journey builders import Ibis: load them on first use so path-table work stays light."""
    if name in _LAZY:
        from spendlab.measure.attribution import journeys

        return getattr(journeys, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MODELS",
    "AttributionModel",
    "DataDrivenAttribution",
    "FirstTouch",
    "JourneyConfig",
    "LastNonDirect",
    "LastTouch",
    "Linear",
    "MarkovAttribution",
    "MarkovChain",
    "OrderedShapley",
    "PathCounts",
    "PositionBased",
    "ShapleyAttribution",
    "TimeDecay",
    "WShaped",
    "build_journeys",
    "build_paths",
    "compare_models",
    "from_frame",
    "journey_summary",
    "journey_table",
    "make_model",
    "path_counts_expr",
    "paths_and_spend",
    "read_paths",
    "run_attribution",
]
