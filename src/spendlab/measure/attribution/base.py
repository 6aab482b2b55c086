"""The shared shape of every attribution model: fit on :class:`PathCounts`, credits per channel.

A model implements ``_credit(paths) -> (conversions, value)``: two arrays over
``paths.channels`` that sum to ``paths.total_conversions`` and ``paths.total_value``. The base class
turns them into the tidy ``credits_`` frame and provides the bootstrap.

``credits_`` columns: ``channel``, ``conversions``, ``value``, ``share`` (of conversions), plus
``conversions_lo``/``conversions_hi``/``value_lo``/``value_hi``/``share_lo``/``share_hi`` after a
bootstrap (percentile intervals at ``level``, 90% by default; the point estimate is the fit on the
observed counts, not the bootstrap mean).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spendlab.errors import ConfigError, DataError, NotFittedError
from spendlab.measure.attribution.paths import PathCounts


class AttributionModel:
    """Base class. Subclasses set ``name`` and implement ``_credit``."""

    name = "model"

    def _credit(self, paths: PathCounts) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _credit_matrix(self, paths: PathCounts) -> Any:
        """Per-path credit weights (paths x channels, rows sum to 1; dense or scipy sparse) when
        credit is linear in the counts; lets the bootstrap run as one matrix product. ``None``
        otherwise."""
        return None

    def fit(self, paths: PathCounts) -> AttributionModel:
        if paths.total_conversions <= 0:
            raise DataError("no conversions in the paths: attribution needs converting journeys")
        conv, value = self._credit(paths)
        self.paths_ = paths
        self.channels_ = list(paths.channels)
        self.credits_ = _frame(paths.channels, conv, value)
        return self

    def _check(self) -> None:
        if not hasattr(self, "credits_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(paths) first")

    def bootstrap(self, n: int = 200, *, level: float = 0.9, seed: int = 0) -> pd.DataFrame:
        """Percentile intervals for the credits by resampling journeys: the (conversion, null)
        counts of every path are redrawn jointly from one multinomial with the observed total
        (value per conversion of each path kept). Adds ``*_lo``/``*_hi`` columns to ``credits_``
        and stores the draws in ``draws_`` (n x channels x 2: conversions, value)."""
        self._check()
        if n < 2:
            raise ConfigError(f"bootstrap n = {n}; use at least 2 (200 or more for intervals)")
        if not 0 < level < 1:
            raise ConfigError(f"level = {level}; give a probability such as 0.9")
        draws = bootstrap_draws(self, self.paths_, n, seed=seed)
        self.draws_ = draws
        self.level_ = level
        self.credits_ = add_intervals(self.credits_, draws, level)
        return self.credits_

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: model name, totals and one record per channel."""
        self._check()
        records = self.credits_.to_dict(orient="records")
        return {
            "model": self.name,
            "total_conversions": self.paths_.total_conversions,
            "total_value": self.paths_.total_value,
            "interval_level": getattr(self, "level_", None),
            "channels": records,
        }


def _frame(
    channels: tuple[str, ...] | list[str], conv: np.ndarray, value: np.ndarray
) -> pd.DataFrame:
    total = conv.sum()
    return pd.DataFrame(
        {
            "channel": list(channels),
            "conversions": conv,
            "value": value,
            "share": conv / total if total > 0 else np.zeros_like(conv),
        }
    )


def resample_counts(paths: PathCounts, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` multinomial redraws of the journeys: arrays (n, paths) of conversions and nulls."""
    rng = np.random.default_rng(seed)
    cells = np.concatenate([paths.conversions, paths.nulls])
    total = cells.sum()
    whole = int(round(total))
    draws = rng.multinomial(max(whole, 1), cells / total, size=n).astype(float)
    draws *= total / max(whole, 1)  # keep fractional totals
    u = paths.n_paths
    return draws[:, :u], draws[:, u:]


def bootstrap_draws(
    model: AttributionModel, paths: PathCounts, n: int, *, seed: int = 0
) -> np.ndarray:
    conv, nulls = resample_counts(paths, n, seed)
    per_conv = np.divide(
        paths.value, paths.conversions, out=np.zeros(paths.n_paths), where=paths.conversions > 0
    )
    value = conv * per_conv
    matrix = model._credit_matrix(paths)
    out = np.empty((n, len(paths.channels), 2))
    if matrix is not None:
        out[:, :, 0] = conv @ matrix
        out[:, :, 1] = value @ matrix
        return out
    for b in range(n):
        out[b, :, 0], out[b, :, 1] = model._credit(paths.with_counts(conv[b], nulls[b], value[b]))
    return out


def add_intervals(credits: pd.DataFrame, draws: np.ndarray, level: float) -> pd.DataFrame:
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out = credits.copy()
    share = draws[:, :, 0] / np.maximum(draws[:, :, 0].sum(axis=1, keepdims=True), 1e-300)
    for name, d in (("conversions", draws[:, :, 0]), ("value", draws[:, :, 1]), ("share", share)):
        out[f"{name}_lo"] = np.quantile(d, lo_q, axis=0)
        out[f"{name}_hi"] = np.quantile(d, hi_q, axis=0)
    return out


def check_sums(paths: PathCounts, conv: np.ndarray, value: np.ndarray, rtol: float = 1e-9) -> None:
    """Raise if credits do not add up to the totals (a bug guard used in tests)."""
    if not np.isclose(conv.sum(), paths.total_conversions, rtol=rtol, atol=1e-9):
        raise AssertionError(f"credits {conv.sum()} != conversions {paths.total_conversions}")
    if not np.isclose(value.sum(), paths.total_value, rtol=rtol, atol=1e-9):
        raise AssertionError(f"value credits {value.sum()} != value {paths.total_value}")
