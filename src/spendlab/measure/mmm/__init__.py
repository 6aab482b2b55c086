"""Bayesian marketing-mix model on NumPyro/JAX (see docs/mmm.md).

from spendlab.measure.mmm import MMMConfig, make_mmm
mmm = make_mmm(MMMConfig(date="date", target="revenue", channels=("search", "social"))).fit(df)
mmm.summary()

``make_mmm`` picks the estimator (``MMM``, or ``GeoMMM`` when the config names a geo column);
``load_mmm(run_dir)`` reloads a saved run of either kind. Use cases on a workspace (fit from its
tables, list runs, read a run) are in :mod:`spendlab.measure.mmm.service`.

The names load on first use, so the app store can import ``spendlab.measure.mmm.store`` (its
table of runs) without importing JAX.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spendlab.measure.mmm.config import LiftTest, MMMConfig
    from spendlab.measure.mmm.estimator import MMM
    from spendlab.measure.mmm.factory import load_mmm, make_mmm
    from spendlab.measure.mmm.geo_estimator import GeoMMM

__all__ = ["MMM", "GeoMMM", "LiftTest", "MMMConfig", "load_mmm", "make_mmm"]
_HOME = {
    "MMM": "estimator",
    "GeoMMM": "geo_estimator",
    "LiftTest": "config",
    "MMMConfig": "config",
    "load_mmm": "factory",
    "make_mmm": "factory",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f"spendlab.measure.mmm.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
