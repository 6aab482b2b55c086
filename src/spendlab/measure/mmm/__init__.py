"""Bayesian marketing-mix model on NumPyro/JAX (see docs/mmm.md).

from spendlab.measure.mmm import MMM, MMMConfig
mmm = MMM(MMMConfig(date="date", target="revenue", channels=("search", "social"))).fit(df)
mmm.summary()
"""

from __future__ import annotations

from spendlab.measure.mmm.config import LiftTest, MMMConfig
from spendlab.measure.mmm.estimator import MMM

__all__ = ["MMM", "LiftTest", "MMMConfig"]
