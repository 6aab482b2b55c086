"""Exact Shapley value attribution over channel coalitions, vectorised over the subset lattice.

Players are channels; a coalition ``S`` is a set of channels (a bit mask). With ``n`` channels the
2**n values of the characteristic function are built with one subset-sum (zeta) transform and
the Shapley value of channel ``i``,

    phi_i = sum_{S not containing i} |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S)),

is one weighted sum over the lattice per channel: exact, no sampling, ~20 channels in about a
second.

Two games (``game=``):

- ``"rate"`` (default): ``v(S)`` = conversion rate of the journeys whose channels all lie in ``S``
  (conversions / journeys, 0 when no journey fits), ``v({})`` = 0. Credits are
  ``total * phi_i / v(N)``. Channels that appear in journeys converting *less* often than
  journeys without them get negative credit; credits still sum to the total.
- ``"count"``: ``v(S)`` = conversions of journeys whose channels all lie in ``S`` (Zhao et al.,
  2018). **Pitfall**: this game is a sum of unanimity games, so its Shapley value gives each
  journey's conversions in equal parts to its distinct channels: it *is* linear attribution over
  unique channels, however it is computed. It ignores non-converting journeys altogether.

:class:`OrderedShapley` (``"shapley_ordered"``) is Zhao et al.'s ordered variant: the count game's
credit of each channel handed to its touches by position (same channel totals, plus a per-position
breakdown).
"""

from __future__ import annotations

from math import factorial
from typing import Any

import numpy as np
import pandas as pd

from spendlab.errors import ConfigError
from spendlab.measure.attribution.base import AttributionModel
from spendlab.measure.attribution.heuristics import HeuristicModel
from spendlab.measure.attribution.paths import PathCounts

MAX_CHANNELS = 22


def popcount(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.int64)
    out = np.zeros(x.shape, dtype=np.int64)
    while np.any(x):
        out += x & 1
        x = x >> 1
    return out


def subset_sum(f: np.ndarray, n: int) -> np.ndarray:
    """Zeta transform: ``g[S] = sum_{T subset of S} f[T]`` over all 2**n masks (along axis 0)."""
    g = np.array(f, dtype=float, copy=True)
    tail = g.shape[1:]
    for i in range(n):
        a = g.reshape((-1, 2, 1 << i) + tail)
        a[:, 1] += a[:, 0]
    return g


def shapley_lattice(v: np.ndarray, n: int) -> np.ndarray:
    """Exact Shapley values of the game ``v`` (length 2**n, indexed by bit mask)."""
    if v.shape[0] != 1 << n:
        raise ValueError("v must have 2**n entries")
    size = popcount(np.arange(1 << n))
    weights = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    phi = np.empty(n)
    for i in range(n):
        a = v.reshape(-1, 2, 1 << i)
        s = size.reshape(-1, 2, 1 << i)[:, 0]
        phi[i] = float((weights[s] * (a[:, 1] - a[:, 0])).sum())
    return phi


def shapley_rows(v: np.ndarray, n: int) -> np.ndarray:
    """Exact Shapley values of many games at once: ``v`` is (games, 2**n); returns (games, n)."""
    if v.shape[1] != 1 << n:
        raise ValueError("v must have 2**n columns")
    size = popcount(np.arange(1 << n))
    weights = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    phi = np.empty((v.shape[0], n))
    for i in range(n):
        a = v.reshape(v.shape[0], -1, 2, 1 << i)
        w = weights[size.reshape(-1, 2, 1 << i)[:, 0]]
        phi[:, i] = ((a[:, :, 1] - a[:, :, 0]) * w).sum(axis=(1, 2))
    return phi


class ShapleyAttribution(AttributionModel):
    """Exact Shapley attribution (see module doc for the games). ``values_`` holds phi."""

    def __init__(self, game: str = "rate", max_channels: int = MAX_CHANNELS) -> None:
        if game not in ("rate", "count"):
            raise ConfigError(f"game = {game!r}; use 'rate' or 'count'")
        self.game = game
        self.max_channels = max_channels

    @property
    def name(self) -> str:  # type: ignore[override]
        return "shapley" if self.game == "rate" else "shapley_count"

    def _values(self, paths: PathCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(paths.channels)
        if n > self.max_channels:
            raise ConfigError(
                f"{n} channels: exact Shapley enumerates 2**{n} coalitions (limit "
                f"{self.max_channels}); group rare channels or use channel granularity"
            )
        masks = paths.channel_sets()
        size = 1 << n
        per = np.zeros((size, 3))
        np.add.at(per, masks, np.column_stack([paths.conversions, paths.nulls, paths.value]))
        within = subset_sum(per, n)
        conv, nulls, value = within[:, 0], within[:, 1], within[:, 2]
        if self.game == "count":
            return shapley_lattice(conv, n), shapley_lattice(value, n), conv
        journeys = conv + nulls
        rate = np.divide(conv, journeys, out=np.zeros(size), where=journeys > 0)
        vrate = np.divide(value, journeys, out=np.zeros(size), where=journeys > 0)
        return shapley_lattice(rate, n), shapley_lattice(vrate, n), rate

    def _credit(self, paths: PathCounts) -> tuple[np.ndarray, np.ndarray]:
        phi, phi_v, _ = self._values(paths)
        self.values_ = phi
        conv = paths.total_conversions * phi / phi.sum() if phi.sum() != 0 else 0 * phi
        value = paths.total_value * phi_v / phi_v.sum() if phi_v.sum() != 0 else 0 * phi
        return conv, value


class OrderedShapley(HeuristicModel):
    """Ordered Shapley value (Zhao, Mahboobi & Bagheri, 2018, section 3.3): the simplified
    (count-game) Shapley value split by the position of the touches within the ordered path.

    For a converting path with ``m`` distinct channels, channel ``j`` is due ``conversions / m``
    (the count game's Shapley value, exact in closed form: the game is a sum of unanimity games).
    The ordered variant hands that share to ``j``'s touches in equal parts, at the positions where
    they occur: the touch of ``j`` at position ``i`` gets ``conversions / (m * count_j)``. Fitted:
    ``credits_`` (channel totals, which equal ``ShapleyAttribution(game="count")``, i.e. linear
    over unique channels) and ``position_credits_`` (``channel``, ``position`` 1-based from the
    first touch, ``conversions``, ``value``): the paper's ``phi_j^i``. Non-converting journeys
    carry no weight, as in the count game.
    """

    name = "shapley_ordered"

    def _weights(self, paths: PathCounts) -> np.ndarray:
        n = len(paths.channels)
        pidx = paths.path_index
        key = pidx * n + paths.steps.astype(np.int64)
        uniq, inv, count = np.unique(key, return_inverse=True, return_counts=True)
        distinct = np.bincount(uniq // n, minlength=paths.n_paths)  # m per path
        return 1.0 / (distinct[pidx] * count[inv])

    def fit(self, paths: PathCounts) -> OrderedShapley:
        super().fit(paths)
        w = self._weights(paths)
        pidx = paths.path_index
        pos = paths.position
        longest = int(paths.lengths.max())
        cell = paths.steps.astype(np.int64) * longest + pos
        size = len(paths.channels) * longest
        conv = np.bincount(cell, weights=w * paths.conversions[pidx], minlength=size)
        value = np.bincount(cell, weights=w * paths.value[pidx], minlength=size)
        keep = np.flatnonzero(np.bincount(cell, minlength=size) > 0)
        self.position_credits_ = pd.DataFrame(
            {
                "channel": np.asarray(paths.channels, dtype=object)[keep // longest],
                "position": keep % longest + 1,
                "conversions": conv[keep],
                "value": value[keep],
            }
        )
        return self

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["positions"] = self.position_credits_.to_dict(orient="records")
        return out
