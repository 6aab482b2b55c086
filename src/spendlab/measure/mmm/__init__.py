"""Bayesian marketing-mix model on NumPyro/JAX (see docs/mmm.md).

from spendlab.measure.mmm import MMM, MMMConfig
mmm = MMM(MMMConfig(date="date", target="revenue", channels=("search", "social"))).fit(df)
mmm.summary()

The names load on first use, so the app store can import ``spendlab.measure.mmm.store`` (its
table of runs) without importing JAX.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spendlab.measure.mmm.config import LiftTest, MMMConfig
    from spendlab.measure.mmm.estimator import MMM

__all__ = ["MMM", "LiftTest", "MMMConfig"]
_HOME = {"MMM": "estimator", "LiftTest": "config", "MMMConfig": "config"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f"spendlab.measure.mmm.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
