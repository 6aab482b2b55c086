"""Constraints of a budget allocation, turned into per-entity bounds and nested group caps.

Every per-entity constraint (absolute min/max, min/max relative to current spend, locked, maximum
change per day, minimum ROAS / maximum CPA) becomes an interval ``[lo, hi]``; the tightest one is
remembered by name so results can say which constraint binds. Group caps (channel > campaign)
must be laminar: two groups are either disjoint or one contains the other.

The **trust region** (:class:`TrustRegion`, :func:`trust_bounds`) keeps a recommendation where the
curves were fitted: each entity stays within the spend range it actually ran at (quantiles of its
daily spend over recent history, with a margin), widened to a maximum step around current spend
where that range is narrower (a flat history). It enters :class:`Constraints` as ``trust`` and is
intersected with the user's constraints like any other bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from spendlab.errors import ConfigError

PerEntity = float | Mapping[str, float] | Sequence[float] | np.ndarray | None


class InfeasibleError(ConfigError):
    """The constraints admit no allocation; the message names the conflicting constraints."""


@dataclass(frozen=True)
class GroupCap:
    """At most ``cap`` spend in total over ``members`` (e.g. one channel's campaigns)."""

    name: str
    members: Sequence[str]
    cap: float


TRUST_WHY = ("observed range", "max step")


@dataclass(frozen=True)
class TrustRegion:
    """How far a recommendation may move each entity from today's spend.

    ``margin``: the observed range ``[q_lo, q_hi]`` is widened by this fraction on each side
    (0.1: from 0.9 q_lo to 1.1 q_hi); ``max_step``: where that range reaches less than this
    fraction of current spend away from current (or the entity has no spend history), the bound
    is ``current x (1 -/+ max_step)`` instead; ``quantiles``: the daily-spend quantiles that make
    the observed range; ``history_days``: the days of delivery they are taken over."""

    margin: float = 0.1
    max_step: float = 0.3
    quantiles: tuple[float, float] = (0.05, 0.95)
    history_days: int = 91

    def __post_init__(self) -> None:
        if not 0 <= self.margin <= 10:
            raise ConfigError(f"trust region margin must be in [0, 10], got {self.margin}")
        if not 0 <= self.max_step <= 100:
            raise ConfigError(f"trust region max_step must be in [0, 100], got {self.max_step}")
        a, b = self.quantiles
        if not 0 <= a <= b <= 1:
            raise ConfigError(f"trust region quantiles must be 0 <= lo <= hi <= 1, got {a}, {b}")
        if self.history_days < 1:
            raise ConfigError(f"history_days must be >= 1, got {self.history_days}")


@dataclass(frozen=True)
class TrustBounds:
    """Per-entity trust bounds (arrays in the curves' id order) with why each holds
    (``observed range`` | ``max step``)."""

    lo: np.ndarray
    hi: np.ndarray
    lo_why: np.ndarray
    hi_why: np.ndarray


def trust_bounds(
    current: np.ndarray, q_lo: np.ndarray, q_hi: np.ndarray, region: TrustRegion
) -> TrustBounds:
    """The trust bounds of entities with ``current`` spend and observed range ``[q_lo, q_hi]``
    (NaN: no history). Each side is the observed range widened by the margin, or the max step
    around current where that reaches less far from current."""
    cur = np.asarray(current, dtype=float)
    ql, qh = np.asarray(q_lo, dtype=float), np.asarray(q_hi, dtype=float)
    known = np.isfinite(ql) & np.isfinite(qh)
    obs_lo = np.where(known, ql * (1 - region.margin), np.inf)
    obs_hi = np.where(known, qh * (1 + region.margin), -np.inf)
    step_lo = np.maximum(cur * (1 - region.max_step), 0.0)
    step_hi = cur * (1 + region.max_step)
    use_obs_lo = obs_lo <= step_lo
    use_obs_hi = obs_hi >= step_hi
    lo = np.maximum(np.where(use_obs_lo, obs_lo, step_lo), 0.0)
    hi = np.where(use_obs_hi, obs_hi, step_hi)
    return TrustBounds(
        lo=lo,
        hi=hi,
        lo_why=np.where(use_obs_lo, TRUST_WHY[0], TRUST_WHY[1]).astype(object),
        hi_why=np.where(use_obs_hi, TRUST_WHY[0], TRUST_WHY[1]).astype(object),
    )


@dataclass(frozen=True)
class Constraints:
    """Constraints on an allocation. Per-entity values are a scalar (every entity), a mapping
    ``{id: value}`` (missing ids unconstrained) or an array in the curves' id order.

    - ``min`` / ``max``: absolute spend bounds.
    - ``min_rel`` / ``max_rel``: bounds as a multiple of current spend (0.8 -> at least 80%).
    - ``max_change``: largest absolute change from current spend (a day's change limit);
      ``max_change_rel``: the same as a fraction of current spend.
    - ``locked``: ids whose spend stays at current.
    - ``min_roas``: the entity's average return ``f(x)/x`` must stay at or above this;
      ``max_cpa``: ``x/f(x)`` at or below this (conversion curves). Both cap spend.
    - ``groups``: nested caps.
    - ``trust``: the trust region's bounds (:func:`trust_bounds`); the user's constraints
      tighten them further.
    """

    min: PerEntity = None
    max: PerEntity = None
    min_rel: PerEntity = None
    max_rel: PerEntity = None
    max_change: PerEntity = None
    max_change_rel: PerEntity = None
    locked: Sequence[str] = ()
    min_roas: PerEntity = None
    max_cpa: PerEntity = None
    groups: Sequence[GroupCap] = field(default_factory=tuple)
    trust: TrustBounds | None = None


def per_entity(value: PerEntity, ids: Sequence[str], name: str, default: float) -> np.ndarray:
    """Expand a scalar / mapping / array constraint to an array in ``ids`` order."""
    n = len(ids)
    if value is None:
        return np.full(n, default)
    if isinstance(value, Mapping):
        unknown = set(map(str, value)) - set(ids)
        if unknown:
            raise ConfigError(f"{name}: unknown entity id(s) {sorted(unknown)[:5]}")
        pos = {k: i for i, k in enumerate(ids)}
        out = np.full(n, default)
        for k, v in value.items():
            out[pos[str(k)]] = default if v is None else float(v)
        return out
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ConfigError(f"{name}: expected {n} values (one per entity), got {arr.shape}")
    return np.where(np.isnan(arr), default, arr)


@dataclass
class Bounds:
    """Per-entity bounds with the name of the constraint behind each, and group structure."""

    lo: np.ndarray
    hi: np.ndarray
    lo_src: np.ndarray
    hi_src: np.ndarray
    groups: list[GroupCap]
    members: list[np.ndarray]  # positions of each group's members
    levels: list[list[int]]  # group indices by depth, deepest first
    parent: list[int]  # index of the smallest enclosing group (-1 for none)


def _tighten(cur: np.ndarray, src: np.ndarray, new: np.ndarray, name: str, upper: bool) -> None:
    better = new < cur if upper else new > cur
    cur[better] = new[better]
    src[better] = name


def build_bounds(
    ids: Sequence[str],
    cons: Constraints,
    current: np.ndarray | None,
    roas_cap: np.ndarray | None = None,
    cpa_cap: np.ndarray | None = None,
) -> Bounds:
    """Intersect every constraint into ``[lo, hi]``; raise :class:`InfeasibleError` naming the
    constraints of the first entity whose interval is empty."""
    n = len(ids)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    lo_src = np.full(n, "non-negative spend", dtype=object)
    hi_src = np.full(n, "", dtype=object)
    needs_current = any(
        v is not None for v in (cons.min_rel, cons.max_rel, cons.max_change, cons.max_change_rel)
    ) or bool(cons.locked)
    if needs_current and current is None:
        raise ConfigError(
            "relative bounds, change limits and locks need current spend; pass current="
        )
    cur = np.zeros(n) if current is None else np.asarray(current, dtype=float)
    _tighten(lo, lo_src, per_entity(cons.min, ids, "min", 0.0), "min spend", upper=False)
    _tighten(hi, hi_src, per_entity(cons.max, ids, "max", np.inf), "max spend", upper=True)
    if cons.min_rel is not None:
        v = per_entity(cons.min_rel, ids, "min_rel", 0.0) * cur
        _tighten(lo, lo_src, v, "min relative to current", upper=False)
    if cons.max_rel is not None:
        v = per_entity(cons.max_rel, ids, "max_rel", np.inf) * cur
        _tighten(hi, hi_src, np.where(np.isnan(v), np.inf, v), "max relative to current", True)
    for val, name, scale in (
        (cons.max_change, "max change per day", None),
        (cons.max_change_rel, "max change per day", cur),
    ):
        if val is not None:
            d = per_entity(val, ids, name, np.inf)
            d = d * scale if scale is not None else d
            d = np.where(np.isnan(d), np.inf, d)
            _tighten(lo, lo_src, cur - d, name, upper=False)
            _tighten(hi, hi_src, cur + d, name, upper=True)
    if roas_cap is not None:
        _tighten(hi, hi_src, roas_cap, "min ROAS", upper=True)
    if cpa_cap is not None:
        _tighten(hi, hi_src, cpa_cap, "max CPA", upper=True)
    if cons.trust is not None:  # inside the user's bounds: an explicit constraint wins a conflict
        t = cons.trust
        if np.shape(t.lo) != (n,) or np.shape(t.hi) != (n,):
            raise ConfigError(f"trust bounds: expected {n} values (one per entity)")
        tlo, thi = np.asarray(t.lo, dtype=float), np.asarray(t.hi, dtype=float)
        clash_lo, clash_hi = tlo > hi, thi < lo  # the user's bound then holds both sides
        up, down = (tlo > lo) & ~clash_lo, (thi < hi) & ~clash_hi
        lo2, lo_src2 = lo.copy(), lo_src.copy()
        lo[up], lo_src[up] = tlo[up], np.asarray(t.lo_why, dtype=object)[up]
        lo[clash_lo], lo_src[clash_lo] = hi[clash_lo], hi_src[clash_lo]
        hi[down], hi_src[down] = thi[down], np.asarray(t.hi_why, dtype=object)[down]
        hi[clash_hi], hi_src[clash_hi] = lo2[clash_hi], lo_src2[clash_hi]
    if cons.locked:
        pos = {k: i for i, k in enumerate(ids)}
        unknown = [k for k in cons.locked if k not in pos]
        if unknown:
            raise ConfigError(f"locked: unknown entity id(s) {unknown[:5]}")
        idx = np.array([pos[k] for k in cons.locked])
        lo[idx], hi[idx] = cur[idx], cur[idx]
        lo_src[idx], hi_src[idx] = "locked", "locked"
    bad = lo > hi * (1 + 1e-12) + 1e-12
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InfeasibleError(
            f"entity {ids[i]!r}: {lo_src[i]} requires spend >= {lo[i]:.6g} but {hi_src[i]} allows "
            f"at most {hi[i]:.6g} ({int(bad.sum())} entities conflict like this); relax one of them"
        )
    hi = np.maximum(hi, lo)
    groups, members, levels, parent = _group_structure(ids, cons.groups)
    for g, m in zip(groups, members, strict=True):
        if lo[m].sum() > g.cap * (1 + 1e-12) + 1e-9:
            raise InfeasibleError(
                f"group cap {g.name!r} allows {g.cap:.6g} but its members' minimum spends sum to "
                f"{lo[m].sum():.6g}; raise the cap or lower those minimums"
            )
    return Bounds(lo, hi, lo_src, hi_src, groups, members, levels, parent)


def _group_structure(
    ids: Sequence[str], groups: Sequence[GroupCap]
) -> tuple[list[GroupCap], list[np.ndarray], list[list[int]], list[int]]:
    pos = {k: i for i, k in enumerate(ids)}
    gl = list(groups)
    members = []
    for g in gl:
        unknown = [k for k in g.members if k not in pos]
        if unknown:
            raise ConfigError(f"group {g.name!r}: unknown entity id(s) {unknown[:5]}")
        if g.cap < 0:
            raise ConfigError(f"group {g.name!r}: cap must be >= 0, got {g.cap}")
        members.append(np.unique(np.array([pos[k] for k in g.members], dtype=int)))
    sets = [set(m.tolist()) for m in members]
    order = sorted(range(len(gl)), key=lambda k: len(sets[k]))
    parent = [-1] * len(gl)
    for a_i, a in enumerate(order):
        for b in order[a_i + 1 :]:
            inter = sets[a] & sets[b]
            if inter and not sets[a] <= sets[b]:
                raise ConfigError(
                    f"groups {gl[a].name!r} and {gl[b].name!r} overlap without nesting; group "
                    "caps must be nested (channel > campaign)"
                )
            if inter and parent[a] == -1:
                parent[a] = b
    depth = []
    for k in range(len(gl)):
        d, p = 0, parent[k]
        while p != -1:
            d, p = d + 1, parent[p]
        depth.append(d)
    levels = [
        [k for k in range(len(gl)) if depth[k] == d] for d in sorted(set(depth), reverse=True)
    ]
    return gl, members, levels, parent
