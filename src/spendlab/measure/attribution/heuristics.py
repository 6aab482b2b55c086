"""Rule-based models: first touch, last touch, last non-direct, linear, time decay, position-based
(U-shaped) and W-shaped. Each gives every step of a path a weight; weights sum to 1 per path and a
path's conversions and value are split by them. All vectorised over the flat steps.

Time decay on path tables has no timestamps: its half-life is in touches (the touch ``k`` steps
before the conversion weighs ``2 ** (-k / half_life)``). With journeys built from the warehouse
with their touch times (``build_journeys``) the half-life can be in days (``unit="days"``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from spendlab.errors import ConfigError
from spendlab.measure.attribution.base import AttributionModel
from spendlab.measure.attribution.paths import PathCounts

DIRECT = frozenset({"direct", "(direct)", "none", "(none)", "direct / (none)"})


class HeuristicModel(AttributionModel):
    """Base of the rule-based models: subclasses give ``_weights(paths)`` (one per step)."""

    def _weights(self, paths: PathCounts) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _step_shares(self, paths: PathCounts) -> tuple[np.ndarray, np.ndarray]:
        """Path number and normalised weight (summing to 1 per path) of every step."""
        w = self._weights(paths).astype(float)
        pidx = paths.path_index
        total = np.bincount(pidx, weights=w, minlength=paths.n_paths)
        return pidx, w / total[pidx]

    def _credit_matrix(self, paths: PathCounts) -> sp.csr_matrix:
        """Sparse (paths x channels): one entry per distinct (path, channel), no dense matrix."""
        pidx, w = self._step_shares(paths)
        shape = (paths.n_paths, len(paths.channels))
        return sp.csr_matrix((w, (pidx, paths.steps)), shape=shape)  # duplicates are summed

    def _credit(self, paths: PathCounts) -> tuple[np.ndarray, np.ndarray]:
        pidx, w = self._step_shares(paths)
        n = len(paths.channels)
        conv = np.bincount(paths.steps, weights=w * paths.conversions[pidx], minlength=n)
        value = np.bincount(paths.steps, weights=w * paths.value[pidx], minlength=n)
        return conv, value


class FirstTouch(HeuristicModel):
    name = "first_touch"

    def _weights(self, paths: PathCounts) -> np.ndarray:
        return (paths.position == 0).astype(float)


class LastTouch(HeuristicModel):
    name = "last_touch"

    def _weights(self, paths: PathCounts) -> np.ndarray:
        return (paths.position == paths.lengths[paths.path_index] - 1).astype(float)


class LastNonDirect(HeuristicModel):
    """Last touch that is not direct/none (``direct`` names, case-insensitive); the last touch
    when the whole path is direct."""

    name = "last_non_direct"

    def __init__(self, direct: Iterable[str] = DIRECT) -> None:
        self.direct = frozenset(d.lower() for d in direct)

    def _weights(self, paths: PathCounts) -> np.ndarray:
        is_direct = np.array([c.lower() in self.direct for c in paths.channels], dtype=bool)
        nd = ~is_direct[paths.steps]
        pidx = paths.path_index
        pos = paths.position
        last_nd = np.full(paths.n_paths, -1)
        np.maximum.at(last_nd, pidx[nd], pos[nd])
        last = paths.lengths - 1
        target = np.where(last_nd >= 0, last_nd, last)
        return (pos == target[pidx]).astype(float)


class Linear(HeuristicModel):
    name = "linear"

    def _weights(self, paths: PathCounts) -> np.ndarray:
        return np.ones(paths.steps.size)


class TimeDecay(HeuristicModel):
    """Weight ``2 ** (-age / half_life)`` per touch.

    ``unit="touches"`` (default): the age of the touch ``k`` steps before the conversion is ``k``;
    works on any path table. ``unit="days"``: the age is the time from the touch to the
    conversion (or, for a null journey, to its last touch) in days; it needs journeys built with
    touch times (:func:`~spendlab.measure.attribution.journeys.build_journeys`, the CLI's
    ``--workspace`` with ``--half-life-days``): path tables carry no timestamps.
    """

    name = "time_decay"

    def __init__(self, half_life: float = 2.0, unit: str = "touches") -> None:
        if unit not in ("touches", "days"):
            raise ConfigError(f"unit = {unit!r}; use 'touches' or 'days'")
        if not half_life > 0:
            raise ConfigError(f"half_life = {half_life}; give a positive number of {unit}")
        self.half_life = half_life
        self.unit = unit

    def _weights(self, paths: PathCounts) -> np.ndarray:
        if self.unit == "touches":
            k = paths.lengths[paths.path_index] - 1 - paths.position
            return np.exp2(-k / self.half_life)
        if paths.ages is None:
            raise ConfigError(
                "time decay with a half-life in days needs touch times, and a path table has "
                "none; build journeys from the workspace (build_journeys, or --workspace with "
                "--half-life-days), or give the half-life in touches (--half-life)"
            )
        # relative to the youngest touch of the path, so long ages cannot underflow to 0 / 0
        youngest = np.full(paths.n_paths, np.inf)
        np.minimum.at(youngest, paths.path_index, paths.ages)
        return np.exp2(-(paths.ages - youngest[paths.path_index]) / self.half_life)


class PositionBased(HeuristicModel):
    """U-shaped: ``first`` and ``last`` shares to the first and last touches, the rest split
    evenly over the middle ones (two-touch paths: first/last renormalised; one touch: all)."""

    name = "position"

    def __init__(self, first: float = 0.4, last: float = 0.4) -> None:
        if first < 0 or last < 0 or first + last > 1:
            raise ConfigError(f"first = {first}, last = {last}: need >= 0 and first + last <= 1")
        self.first, self.last = first, last

    def _weights(self, paths: PathCounts) -> np.ndarray:
        length = paths.lengths[paths.path_index]
        pos = paths.position
        middle = (1 - self.first - self.last) / np.maximum(length - 2, 1)
        w = np.where(pos == 0, self.first, np.where(pos == length - 1, self.last, middle))
        w = np.where(length == 1, 1.0, w)
        two = length == 2
        w = np.where(two & (pos == 0), max(self.first, 1e-12), w)
        return np.where(two & (pos == 1), max(self.last, 1e-12), w)


class WShaped(HeuristicModel):
    """W-shaped: ``anchor`` share (30%) each to the first touch, the middle ("lead creation",
    position ``(L - 1) // 2``) and the last; the remaining 10% evenly over the other touches.
    Paths of 1-3 touches split evenly."""

    name = "w_shaped"

    def __init__(self, anchor: float = 0.3) -> None:
        if not 0 < anchor <= 1 / 3:
            raise ConfigError(f"anchor = {anchor}; give a share in (0, 1/3]")
        self.anchor = anchor

    def _weights(self, paths: PathCounts) -> np.ndarray:
        length = paths.lengths[paths.path_index]
        pos = paths.position
        key = (pos == 0) | (pos == length - 1) | (pos == (length - 1) // 2)
        rest = (1 - 3 * self.anchor) / np.maximum(length - 3, 1)
        w = np.where(key, self.anchor, rest)
        return np.where(length <= 3, 1.0, w)
