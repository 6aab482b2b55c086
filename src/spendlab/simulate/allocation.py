"""The optimal split of a daily budget over campaigns' steady-state response curves.

Curves ``f_c(s) = beta_c * saturation_c(s)`` are concave (logistic; Hill with ``S <= 1``) or
S-shaped (Hill with ``S > 1``). We maximise ``sum_c f_c(s_c)`` subject to ``sum_c s_c = B``,
``s_c >= 0``:

1. Replace each S-shaped curve by its concave envelope: the line from the origin to the tangent
   point ``s* = K (S-1)^(1/S)`` (slope ``m0 = f(s*)/s*``), then the curve.
2. Water-filling: for a common marginal return ``mu`` each campaign spends where its envelope's
   slope equals ``mu`` (0 when even its first dollar returns less). Total demand falls with ``mu``;
   bisection on ``log mu`` finds the ``mu`` where it equals ``B`` (demand is interpolated inside
   the final bracket, which is where a linear envelope segment takes the remainder).
3. If no campaign ends on a linear segment (``0 < s < s*``) the envelope optimum is attained by
   the true curves: it is the exact optimum. Otherwise each such campaign is either switched off
   or switched on (then held on the concave part of its true curve, ``s >= inflection``) and the
   rest re-solved, keeping the better; this is exact when one campaign is on a segment (the
   usual case). ``envelope_outcome`` (the envelope optimum) bounds every allocation from above.
"""

from __future__ import annotations

import numpy as np

from spendlab.simulate.media import HILL, MediaParams

OUTER_STEPS = 200
MAX_DECISIONS = 8


def _setup(params: MediaParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tangent = params.tangent_spend()
    s_shaped = tangent > 0
    safe = np.maximum(tangent, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        m0 = np.where(
            s_shaped, params.response(safe) / safe, params.marginal(np.zeros_like(tangent))
        )
    return tangent, s_shaped, np.where(params.beta > 0, m0, 0.0)


def _demand(
    params: MediaParams, mu: float, cap: float, lo0: np.ndarray, slope0: np.ndarray,
    active: np.ndarray, forced: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Spend of every campaign where its (envelope or forced) slope is ``mu``, capped at
    ``cap``. ``lo0`` is where each campaign's decreasing-marginal part starts and ``slope0`` the
    slope there (the envelope line's slope for S-shaped curves); forced campaigns spend at least
    ``lo0``."""
    grows = active & (slope0 > mu)
    s = np.clip(params.inverse_marginal(mu), lo0, None)
    s = np.where(grows, s, np.where(forced & active, lo0, 0.0))
    return np.minimum(s, cap)


def _solve(
    params: MediaParams, budget: float, excluded: np.ndarray, forced: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """Water-filling; ``None`` when the forced minimum spends exceed the budget."""
    tangent, _, m0 = _setup(params)
    lo0 = np.where(forced, params.inflection_spend(), tangent)
    slope0 = np.where(forced, params.marginal(np.maximum(lo0, 1e-300)), m0)
    active = ~excluded & (params.beta > 0)
    if lo0[forced].sum() > budget:
        return None
    if not active.any() or budget <= 0:
        return np.zeros(params.beta.size), 0.0

    def total(mu: float) -> float:
        return float(_demand(params, mu, budget, lo0, slope0, active, forced).sum())

    finite = slope0[active & np.isfinite(slope0)]
    hi_mu = max(float(finite.max()) if finite.size else 1.0, 1e-300) * 2.0
    lo_mu = hi_mu * 1e-12
    while total(hi_mu) >= budget:
        hi_mu *= 4.0
    while total(lo_mu) < budget and lo_mu > 1e-300:
        lo_mu /= 1e3
    for _ in range(OUTER_STEPS):
        mid = np.sqrt(lo_mu * hi_mu)
        if total(mid) >= budget:
            lo_mu = mid
        else:
            hi_mu = mid
        if hi_mu / lo_mu - 1.0 < 1e-15:
            break
    s_lo = _demand(params, lo_mu, budget, lo0, slope0, active, forced)  # sum >= budget
    s_hi = _demand(params, hi_mu, budget, lo0, slope0, active, forced)  # sum < budget
    gap = s_lo.sum() - s_hi.sum()
    frac = (budget - s_hi.sum()) / gap if gap > 0 else 0.0
    return s_hi + frac * (s_lo - s_hi), float(np.sqrt(lo_mu * hi_mu))


def envelope_response(params: MediaParams, s: np.ndarray) -> np.ndarray:
    """The concave envelope of each campaign's curve at spend ``s``."""
    tangent, s_shaped, m0 = _setup(params)
    on_line = s_shaped & (s < tangent)
    with np.errstate(invalid="ignore"):  # inf * 0 on concave curves, not selected
        return np.where(on_line, m0 * s, params.response(s))


def _on_segment(s: np.ndarray, tangent: np.ndarray, s_shaped: np.ndarray, budget: float, forced):
    small = 1e-12 * max(budget, 1.0)
    return s_shaped & ~forced & (s > small) & (s < tangent * (1 - 1e-9))


def _value(params: MediaParams, s: np.ndarray) -> float:
    return float(params.response(s).sum())


def optimal_allocation(params: MediaParams, budget: float) -> dict:
    """Optimal daily spend per campaign for ``budget``; see the module docstring.

    Returns ``spend`` (array), ``multiplier`` (the common marginal return of interior campaigns),
    ``status`` per campaign (``zero``; ``interior`` - marginal return equal to ``multiplier``;
    ``floor`` - held at its inflection point; ``segment`` - left on an envelope line; ``cap`` -
    takes the whole budget), ``outcome`` (true curves) and ``envelope_outcome`` (the upper bound).
    """
    n = params.beta.size
    tangent, s_shaped, _ = _setup(params)
    excluded = np.zeros(n, dtype=bool)
    forced = np.zeros(n, dtype=bool)
    decided = np.zeros(n, dtype=bool)
    solved = _solve(params, budget, excluded, forced)
    assert solved is not None
    s, mu = solved
    envelope = float(envelope_response(params, s).sum())
    for _ in range(MAX_DECISIONS):
        seg = np.flatnonzero(_on_segment(s, tangent, s_shaped, budget, forced) & ~decided)
        if not seg.size:
            break
        j = seg[0]
        decided[j] = True
        options = [(_value(params, s), 0, excluded, forced, (s, mu))]  # keep it where it is
        for kind in (1, 2):  # 1: switch off, 2: switch on (concave part of its true curve)
            ex, fo = excluded.copy(), forced.copy()
            (fo if kind == 2 else ex)[j] = True
            res = _solve(params, budget, ex, fo)
            if res is None:  # its concave part starts beyond the budget: give it everything
                res = (np.where(np.arange(n) == j, budget, 0.0), float(params.marginal(
                    np.full(n, budget))[j]))  # fmt: skip
            options.append((_value(params, res[0]), kind, ex, fo, res))
        _, _, excluded, forced, (s, mu) = max(options, key=lambda o: (o[0], o[1]))
    zero = s <= 1e-12 * max(budget, 1.0)
    floor = forced & (s <= params.inflection_spend() * (1 + 1e-12))
    seg = _on_segment(s, tangent, s_shaped, budget, forced)
    cap = s >= budget * (1 - 1e-12)
    status = np.select(
        [zero, cap, floor, seg], ["zero", "cap", "floor", "segment"], default="interior"
    )
    return {
        "spend": s,
        "multiplier": mu,
        "status": status,
        "outcome": _value(params, s),
        "envelope_outcome": envelope,
        "s_shaped": s_shaped,
        "tangent": tangent,
        "hill": params.saturation == HILL,
    }
