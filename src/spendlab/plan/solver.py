"""Water-filling: the exact separable solver behind :func:`spendlab.plan.optimizer.optimize`.

Problem: maximise ``sum_i w_i f_i(x_i) - c * sum_i x_i`` subject to ``lo_i <= x_i <= hi_i``, nested
group caps ``sum_{i in g} x_i <= cap_g`` and a budget (``sum x = B``, or ``<= B``).

For concave ``f_i`` the KKT conditions say every entity strictly inside its bounds has the same
marginal return ``w_i f_i'(x_i) - c = p_i``, where ``p_i`` is the budget multiplier ``lam`` plus the
multipliers of the capped groups containing ``i``. Given a price, each entity's spend is closed form
(``x_i(p) = clip(f_i'^{-1}((p + c) / w_i), lo_i, hi_i)``), non-increasing in the price. A capped
group's spend is ``min(cap_g, sum of its members' spend)``, so its floor price ``pi_g`` (where its
members exactly fill the cap) does not depend on ``lam``: floors are solved once, deepest groups
first, and each entity's price is ``max(lam, floors of its groups)``. Then ``lam`` is found by a
safeguarded regula falsi (Illinois) / bisection on ``log lam`` so the budget is met.

S-shaped curves (Hill ``s > 1``) are replaced by their concave envelope (the chord from the origin
to the tangent point ``tau``, then the curve). In the envelope solution an entity on its chord is
"fractional"; the repair moves such entities to 0 or to the tangent point and re-solves the rest,
keeping the better of the two roundings. The duality gap below certifies the result either way.

Certificate: for any ``lam`` and group multipliers ``mu >= 0``, the dual bound
``D = lam B + sum_g mu_g cap_g + sum_i max_{lo<=x<=hi} (w_i env_i(x) - (c + p_i) x)`` is an upper
bound on the best objective of every feasible allocation (``env >= f``). ``kkt_gap`` is
``(D - P) / |P|`` for the returned allocation's objective ``P``: a relative optimality certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from spendlab.plan.constraints import Bounds, InfeasibleError


class CurveLike(Protocol):
    n: int

    def response(self, x: np.ndarray) -> np.ndarray: ...
    def marginal(self, x: np.ndarray) -> np.ndarray: ...
    def inverse_marginal(self, m: np.ndarray) -> np.ndarray: ...
    def tangent_point(self) -> np.ndarray: ...


@dataclass
class Solution:
    x: np.ndarray
    price: float  # budget multiplier lam
    floors: np.ndarray  # per-entity group floor price
    gap: float
    objective: float
    repaired: int  # entities moved off an S-curve's chord


class WaterFill:
    """Solver for one set of curves, weights and bounds."""

    def __init__(self, f: CurveLike, w: np.ndarray, c: float, bounds: Bounds):
        self.f, self.w, self.c, self.b = f, np.asarray(w, dtype=float), float(c), bounds
        self.tau = np.asarray(f.tangent_point(), dtype=float)
        self.s_shaped = self.tau > 0
        # start of the concave branch; curves without ``inflection`` (risk statistics over draws)
        # are only ever switched on at their tangent point
        infl = getattr(f, "inflection", None)
        self.infl = np.minimum(np.asarray(infl(), dtype=float), self.tau) if infl else self.tau
        self.chord = np.where(
            self.s_shaped, f.response(self.tau) / np.where(self.s_shaped, self.tau, 1.0), np.inf
        )  # envelope slope on [0, tau] (= f'(tau))

    # --- primal map ----------------------------------------------------------------------------
    def spend_at(self, price: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        q = (np.asarray(price, dtype=float) + self.c) / self.w
        x = self.f.inverse_marginal(np.maximum(q, 1e-300))
        x = np.where(self._free_s(lo) & (q >= self.chord), 0.0, x)
        return np.clip(x, lo, hi)

    def _free_s(self, lo: np.ndarray) -> np.ndarray:
        """S-curves free to sit at 0: below the inflection their envelope is the chord. An S-curve
        switched on (``lo`` at or past its inflection) is concave on its domain: its spend solves
        ``f'(x) = price`` there, also between the inflection and the tangent point."""
        return self.s_shaped & (lo < self.infl * (1 - 1e-12))

    def objective(self, x: np.ndarray) -> float:
        return float(np.sum(self.w * self.f.response(x)) - self.c * np.sum(x))

    def floors(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        phi = np.zeros(self.f.n)
        self.pi = np.zeros(len(self.b.groups))
        for level in self.b.levels:
            for g in level:
                m = self.b.members[g]
                _, p = self._price(m, self.b.groups[g].cap, phi[m], lo[m], hi[m])
                self.pi[g] = p
                phi[m] = np.maximum(phi[m], p)
        return phi

    def _total(self, idx, p, floor, lo, hi) -> float:
        return float(np.sum(self._sub_spend(idx, np.maximum(p, floor), lo, hi)))

    def _sub_spend(self, idx, price, lo, hi) -> np.ndarray:
        if len(idx) == self.f.n:
            return self.spend_at(price, lo, hi)
        full = np.zeros(self.f.n)
        full[idx] = price
        lo_f, hi_f = np.zeros(self.f.n), np.zeros(self.f.n)
        lo_f[idx], hi_f[idx] = lo, hi
        return self.spend_at(full, lo_f, hi_f)[idx]

    def _price(self, idx, target, floor, lo, hi) -> tuple[float, float]:
        """Bracket ``(p_lo, p_hi)`` of the price where members' spend crosses ``target``:
        spend(p_lo) >= target >= spend(p_hi). ``(0, 0)`` when spend(0) <= target."""
        tol = 1e-13 * max(abs(target), 1.0)
        s0 = self._total(idx, 0.0, floor, lo, hi)
        if s0 <= target + tol:
            return 0.0, 0.0
        a, b = np.log(1e-300), np.log(1e300)
        hi_p = 1.0
        while self._total(idx, hi_p, floor, lo, hi) > target + tol and hi_p < 1e300:
            hi_p *= 16.0
        lo_p = hi_p / 16.0 if hi_p > 1.0 else 1.0
        while self._total(idx, lo_p, floor, lo, hi) <= target and lo_p > 1e-300:
            lo_p /= 16.0
        a, b = np.log(max(lo_p, 1e-300)), np.log(hi_p)
        lt = np.log(max(target, 1e-300))

        def g(v: float) -> float:  # log-log residual: S(lam) is close to a power law
            sv = self._total(idx, np.exp(v), floor, lo, hi)
            return (np.log(sv) if sv > 0 else -1e3) - lt

        ga, gb = g(a), g(b)
        if gb >= 0:
            return np.exp(b), np.exp(b)
        side = 0
        for it in range(300):
            if ga <= 1e-14 or b - a < 1e-15 * max(1.0, abs(a)):
                break
            if it % 4 == 3 or not np.isfinite(ga - gb) or ga == gb:
                m = 0.5 * (a + b)
            else:
                m = b - gb * (b - a) / (gb - ga)
                m = min(max(m, a + 1e-6 * (b - a)), b - 1e-6 * (b - a))
            gm = g(m)
            if abs(gm) <= 1e-14:
                return np.exp(m), np.exp(m)
            if gm > 0:
                a, ga = m, gm
                if side == 1:
                    gb *= 0.5
                side = 1
            else:
                b, gb = m, gm
                if side == -1:
                    ga *= 0.5
                side = -1
        return float(np.exp(a)), float(np.exp(b))

    # --- solve ---------------------------------------------------------------------------------
    def solve(self, budget: float | None, *, equality: bool = True) -> Solution:
        sol = self._solve(self.b.lo.copy(), self.b.hi.copy(), budget, equality, depth=0)
        if self.s_shaped.any() and int(self.s_shaped.sum()) <= self.local_search_max:
            sol = self._local_search(sol, budget, equality)
        gap, obj = self.certificate(sol.x, sol.price, budget)
        sol.gap, sol.objective = gap, obj
        return sol

    def _solve(self, lo, hi, budget, equality, depth) -> Solution:
        n = self.f.n
        idx = np.arange(n)
        phi = self.floors(lo, hi)
        if budget is None:
            x = self.spend_at(phi, lo, hi)
            return Solution(x, 0.0, phi, np.nan, np.nan, 0)
        if lo.sum() > budget * (1 + 1e-12) + 1e-9:
            raise InfeasibleError(
                f"the budget {budget:.6g} is below the sum of minimum spends {lo.sum():.6g} "
                "(min spend, locks, change limits); raise the budget or relax those minimums"
            )
        p_lo, p_hi = self._price(idx, budget, phi, lo, hi)
        x_hi = self.spend_at(np.maximum(p_hi, phi), lo, hi)
        if p_hi == 0.0:
            if equality and x_hi.sum() < budget * (1 - 1e-12) - 1e-9:
                raise InfeasibleError(_cannot_spend(budget, x_hi.sum(), self.b))
            return Solution(x_hi, 0.0, phi, np.nan, np.nan, 0)
        x_lo = self.spend_at(np.maximum(p_lo, phi), lo, hi)
        r = budget - x_hi.sum()
        delta = x_lo - x_hi
        if r <= 1e-12 * max(budget, 1.0) or delta.sum() <= 0:
            return Solution(x_hi, p_hi, phi, np.nan, np.nan, 0)
        jump = self._free_s(lo) & (x_hi < self.tau) & (delta > 1e-9 * (1 + self.tau))
        if not jump.any() or depth >= 6:
            x = x_hi + delta * min(1.0, r / delta.sum())
            return Solution(x, p_hi, phi, np.nan, np.nan, 0)
        return self._repair(lo, hi, budget, equality, depth, x_hi, x_lo, jump, r, p_hi, phi)

    def _repair(self, lo, hi, budget, equality, depth, x_hi, x_lo, jump, r, p_hi, phi):
        """Round chord entities to 0 / tangent point: the k that fit, and k+1; re-solve rest."""
        j = np.flatnonzero(jump)
        j = j[np.argsort(-(self.w[j] * self.chord[j]), kind="stable")]
        steps = np.cumsum(x_lo[j] - x_hi[j])
        k0 = int(np.searchsorted(steps, r, side="right"))
        best: Solution | None = None
        for k in {k0, min(k0 + 1, len(j)), max(k0 - 1, 0)}:
            lo2, hi2 = lo.copy(), hi.copy()
            on, off = j[:k], j[k:]
            lo2[on] = hi2[on] = x_lo[on]
            lo2[off] = hi2[off] = x_hi[off]
            try:
                cand = self._solve(lo2, hi2, budget, equality, depth + 1)
            except InfeasibleError:
                continue
            cand.repaired = len(j)
            if best is None or self.objective(cand.x) > self.objective(best.x):
                best = cand
        if best is None:  # fall back to the fractional envelope point (feasible)
            delta = x_lo - x_hi
            x = x_hi + delta * min(1.0, r / delta.sum())
            return Solution(x, p_hi, phi, np.nan, np.nan, 0)
        return best

    local_search_max = 32
    exhaustive_work = 200_000  # enumerate all on/off states when 2^k * n stays below this

    def _state_solve(self, sidx: np.ndarray, on: np.ndarray, budget, equality) -> Solution | None:
        """The concave sub-problem of one on/off state of the S-curves ``sidx``: an "off" curve
        stays at its minimum spend, an "on" curve spends on its concave branch (at least its
        inflection point, or all the budget left when that is less). Water-filling is exact on
        it."""
        lo2, hi2 = self.b.lo.copy(), self.b.hi.copy()
        off_i, on_i = sidx[~on], sidx[on]
        hi2[off_i] = lo2[off_i]
        want = np.minimum(np.maximum(lo2[on_i], self.infl[on_i]), hi2[on_i])
        if budget is not None:  # a budget below the inflection: spend it all there (convex part)
            want = np.minimum(want, np.maximum(budget - (lo2.sum() - lo2[on_i]), lo2[on_i]))
        lo2[on_i] = want
        try:
            return self._solve(lo2, hi2, budget, equality, depth=6)
        except InfeasibleError:
            return None

    def _convex_refine(self, sidx, best: Solution, best_obj: float, budget, equality):
        """At an optimum one S-curve may sit inside its convex part (below the inflection),
        balanced by the others' concavity. For each S-curve, scan its spend below the inflection
        (the others in the best state so far, re-solved exactly for the rest of the budget), then
        refine the best point by golden-section search."""
        if budget is None:
            return best, best_obj
        state = best.x > self.b.lo + 1e-12  # the best on/off state so far, kept for the others
        for i in sidx:
            a, b = self.b.lo[i], min(self.infl[i], self.b.hi[i])
            if b <= a:
                continue

            base_lo, base_hi = self.b.lo.copy(), self.b.hi.copy()
            for j in sidx:  # the other S-curves keep the best state
                if j == i:
                    continue
                if state[j]:
                    base_lo[j] = min(max(base_lo[j], self.infl[j]), base_hi[j], best.x[j])
                else:
                    base_hi[j] = base_lo[j]

            def value(t: float, i: int = i, lo0=base_lo, hi0=base_hi) -> tuple[float, Any]:
                lo2, hi2 = lo0.copy(), hi0.copy()
                lo2[i] = hi2[i] = t
                try:
                    cand = self._solve(lo2, hi2, budget, equality, depth=6)
                except InfeasibleError:
                    return -np.inf, None
                return self.objective(cand.x), cand

            grid = np.linspace(a, b, 7)
            vals = [value(float(t))[0] for t in grid]
            m = int(np.argmax(vals))
            lo_t, hi_t = grid[max(m - 1, 0)], grid[min(m + 1, len(grid) - 1)]
            g = (np.sqrt(5) - 1) / 2
            t1, t2 = hi_t - g * (hi_t - lo_t), lo_t + g * (hi_t - lo_t)
            v1, v2 = value(t1)[0], value(t2)[0]
            for _ in range(16):  # bracket 0.618^16 ~ 5e-4 of a grid step: objective to ~1e-7
                if v1 >= v2:
                    hi_t, t2, v2 = t2, t1, v1
                    t1 = hi_t - g * (hi_t - lo_t)
                    v1 = value(t1)[0]
                else:
                    lo_t, t1, v1 = t1, t2, v2
                    t2 = lo_t + g * (hi_t - lo_t)
                    v2 = value(t2)[0]
            obj, cand = value(0.5 * (lo_t + hi_t))
            if cand is not None and obj > best_obj * (1 + 1e-12) + 1e-15:
                best, best_obj = cand, obj
        return best, best_obj

    def _local_search(self, sol: Solution, budget, equality) -> Solution:
        """Few S-curves: search over which S-curves are on (on their concave branch: with a tight
        budget the optimum can sit between the inflection and the tangent point, which the
        envelope never proposes) and which are off. Each state is a concave problem solved
        exactly; all states are enumerated when that is cheap, else single switches and swaps
        from the envelope solution's state are repeated until none improves."""
        sidx = np.flatnonzero(self._free_s(self.b.lo))
        if sidx.size == 0:
            return sol
        best, best_obj = sol, self.objective(sol.x)

        def consider(on: np.ndarray) -> bool:
            nonlocal best, best_obj
            cand = self._state_solve(sidx, on, budget, equality)
            if cand is None:
                return False
            obj = self.objective(cand.x)
            if obj > best_obj * (1 + 1e-12) + 1e-15:
                best, best_obj = cand, obj
                return True
            return False

        k = sidx.size
        if (2**k) * self.f.n <= self.exhaustive_work:
            for code in range(2**k):
                consider(((code >> np.arange(k)) & 1).astype(bool))
            best, best_obj = self._convex_refine(sidx, best, best_obj, budget, equality)
        else:
            state = sol.x[sidx] > self.b.lo[sidx] + 1e-12
            consider(state)
            for _ in range(10):
                improved = False
                moves = [[i] for i in range(k)]
                moves += [[i, j] for i in range(k) for j in range(k) if state[i] and not state[j]]
                for flip in moves:
                    trial = state.copy()
                    trial[flip] = ~trial[flip]
                    if consider(trial):
                        state, improved = trial, True
                if not improved:
                    break
        best.repaired = max(best.repaired, sol.repaired)
        return best

    # --- certificate ---------------------------------------------------------------------------
    def envelope(self, x: np.ndarray) -> np.ndarray:
        on_chord = self.s_shaped & (x < self.tau)
        return np.where(on_chord, x * np.where(self.s_shaped, self.chord, 0.0), self.f.response(x))

    def dual_bound(self, lam: float, budget: float | None) -> float:
        lo, hi = self.b.lo, self.b.hi
        phi = self.floors(lo, hi)
        price = np.maximum(lam, phi)
        xs = self.spend_at(price, lo, hi)
        val = float(np.sum(self.w * self.envelope(xs) - (self.c + price) * xs))
        val += (lam * budget) if budget is not None else 0.0
        # group multipliers: each group adds (its effective price - its parent's) * cap
        eff: dict[int, float] = {}
        for level in reversed(self.b.levels):  # outermost first
            for g in level:
                par = self.b.parent[g]
                base = eff[par] if par != -1 else lam
                eff[g] = max(base, float(self.pi[g]))
                val += (eff[g] - base) * self.b.groups[g].cap
        return val

    def certificate(self, x: np.ndarray, lam: float, budget: float | None) -> tuple[float, float]:
        obj = self.objective(x)
        d = self.dual_bound(lam, budget)
        gap = max(d - obj, 0.0) / max(abs(obj), 1e-12)
        return gap, obj


def _cannot_spend(budget: float, spendable: float, b: Bounds) -> str:
    fin = np.isfinite(b.hi)
    srcs = sorted({str(s) for s in b.hi_src[fin] if s})
    caps = [g.name for g in b.groups]
    what = ", ".join(srcs + ([f"group caps {caps}"] if caps else [])) or "the constraints"
    return (
        f"the budget {budget:.6g} cannot be spent: {what} allow at most {spendable:.6g} in total; "
        "lower the budget, raise those maximums, or use goal='profit' (spend up to the budget)"
    )
