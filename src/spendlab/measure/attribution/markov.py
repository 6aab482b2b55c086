"""Markov-chain attribution of order 1 to 4, with removal effects solved exactly.

States are the last ``order`` touches (shorter at the start of a path); ``(start)`` leads to the
first state, the last state of a path leads to the absorbing ``(conversion)`` (weight: the path's
conversions) or ``(null)`` (its nulls). Transition probabilities are the maximum-likelihood ones
(counts over row totals). With ``Q`` the transient-to-transient block and ``r`` the one-step
conversion probabilities, the conversion probability from every state solves

    (I - Q) x = r

(one sparse LU solve). Removing channel ``c`` sends every state that contains ``c`` to
``(null)``: ``x^{-c}`` solves the same system restricted to the other states. The removal effect is
``RE_c = 1 - x^{-c}(start) / x(start)`` and the conversions credited to ``c`` are
``total * RE_c / sum_d RE_d``. Value credits use the same system with ``r`` replaced by the
expected value of the conversion step. No simulation: the result is exact up to floating point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from spendlab.errors import ConfigError, DataError
from spendlab.measure.attribution.base import AttributionModel, _frame
from spendlab.measure.attribution.paths import PathCounts, blocks

#: State codes up to this many are compacted with a lookup table, larger ones by sorting.
DENSE_CODES = 1 << 20
#: Chains with up to this many (from, to) cells count transitions densely, larger ones sparsely.
DENSE_PAIRS = 1 << 18


def _codes(paths: PathCounts, a: int, b: int, order: int, base: int) -> np.ndarray:
    """State code of every step of paths ``[a, b)``: ``sum_j digit_j * base**j`` with
    ``digit_j`` = channel + 1 of the touch ``j`` steps back (0 before the path's start)."""
    lo, hi = int(paths.offsets[a]), int(paths.offsets[b])
    steps = paths.steps[lo:hi]
    code = steps.astype(np.int64) + 1
    if order > 1:
        lengths = np.diff(paths.offsets[a : b + 1])
        pos = np.arange(hi - lo) - np.repeat(paths.offsets[a:b] - lo, lengths)
        digit = np.empty(hi - lo, dtype=np.int64)
        for j in range(1, order):
            digit[:j] = 0
            np.add(steps[:-j], 1, out=digit[j:])
            digit[pos < j] = 0
            digit *= base**j
            code += digit
    return code


class MarkovChain:
    """The fitted absorbing chain of a path table (states, sparse transitions, solves)."""

    def __init__(self, paths: PathCounts, order: int = 1) -> None:
        if order not in (1, 2, 3, 4):
            raise ConfigError(f"order = {order}; Markov attribution supports orders 1 to 4")
        n_ch = len(paths.channels)
        base = n_ch + 1
        if base**order >= 2**62:
            raise ConfigError(f"{n_ch} channels at order {order} overflow the state encoding")
        space = base**order
        dense = space <= DENSE_CODES  # small code space: compact states by a lookup table
        parts = blocks(paths.offsets)
        # pass 1: which states occur
        present = np.zeros(space if dense else 0, dtype=bool)
        found = []
        for a, b in parts:
            code = _codes(paths, a, b, order, base)
            if dense:
                present[code] = True
            else:
                found.append(np.unique(code))
        if dense:
            uniq = np.flatnonzero(present)
            lut = (np.cumsum(present, dtype=np.int64) - 1).astype(np.int32)
            del present
        else:
            uniq = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        del found
        self.order = order
        self.channels = paths.channels
        # per state: channel + 1 of the most recent touch first, 0 = none
        self.window = np.stack([(uniq // base**j) % base for j in range(order)], axis=1)
        n_s = uniq.size
        self.n_states = n_s
        # transient indices: 0 = start, 1..n_s = states
        n_t = n_s + 1
        weight = paths.conversions + paths.nulls
        first = np.empty(paths.n_paths, dtype=np.int64)
        last = np.empty(paths.n_paths, dtype=np.int64)
        small = n_t * n_t <= DENSE_PAIRS  # dense bincount of (from, to) pairs
        pairs = np.zeros(n_t * n_t if small else 0)
        counts = sp.csr_matrix((n_t, n_t))
        # pass 2: transitions within paths, block by block
        for a, b in parts:
            code = _codes(paths, a, b, order, base)
            state = (lut[code] if dense else np.searchsorted(uniq, code)).astype(np.int64) + 1
            del code
            off = paths.offsets[a : b + 1] - paths.offsets[a]
            first[a:b] = state[off[:-1]]
            last[a:b] = state[off[1:] - 1]
            inner = np.ones(state.size, dtype=bool)
            inner[off[1:] - 1] = False
            idx = np.flatnonzero(inner)
            del inner
            w = np.repeat(weight[a:b], np.diff(off))[idx]
            src, dst = state[idx], state[idx + 1]
            del state, idx
            if small:
                pairs += np.bincount(src * n_t + dst, weights=w, minlength=n_t * n_t)
            else:
                counts = counts + sp.coo_matrix((w, (src, dst)), shape=(n_t, n_t)).tocsr()
            del src, dst, w
        if small:
            counts = sp.csr_matrix(pairs.reshape(n_t, n_t))
            del pairs
        # start -> first state, weighted by the path's journeys
        start = sp.coo_matrix(
            (weight, (np.zeros(first.size, dtype=np.int64), first)), shape=(n_t, n_t)
        )
        counts = (counts + start.tocsr()).tocsr()
        counts.sum_duplicates()
        counts.eliminate_zeros()
        conv = np.bincount(last, weights=paths.conversions, minlength=n_t)
        nulls = np.bincount(last, weights=paths.nulls, minlength=n_t)
        value = np.bincount(last, weights=paths.value, minlength=n_t)
        del first, last
        out = np.asarray(counts.sum(axis=1)).ravel() + conv + nulls
        inv = np.divide(1.0, out, out=np.zeros(n_t), where=out > 0)
        self.counts = counts
        self.Q = sp.diags(inv) @ counts
        self.r_conv = conv * inv
        self.r_null = nulls * inv
        self.r_value = value * inv
        self.out_total = out

    def contains(self, channel: int) -> np.ndarray:
        """Transient states (start included, never) that contain ``channel``."""
        mask = np.zeros(self.n_states + 1, dtype=bool)
        mask[1:] = (self.window == channel + 1).any(axis=1)
        return mask

    def solve(self, keep: np.ndarray | None = None) -> tuple[float, float]:
        """Conversion probability and expected value from ``(start)`` when only the transient
        states in ``keep`` (bool mask) stay; the others lead to ``(null)``."""
        n_t = self.n_states + 1
        idx = np.arange(n_t) if keep is None else np.flatnonzero(keep)
        q = self.Q[idx][:, idx].tocsc()
        a = sp.identity(idx.size, format="csc") - q
        rhs = np.column_stack([self.r_conv[idx], self.r_value[idx]])
        lu = spla.splu(a)
        x = lu.solve(rhs)
        return float(x[0, 0]), float(x[0, 1])

    def transition_frame(self) -> pd.DataFrame:
        """Tidy transition probabilities: ``from``, ``to``, ``probability``, ``count``."""
        names = ["(start)"] + [self._name(i) for i in range(self.n_states)]
        q = self.Q.tocoo()
        c = self.counts.tocoo()
        rows = [
            pd.DataFrame(
                {
                    "from": np.asarray(names, dtype=object)[q.row],
                    "to": np.asarray(names, dtype=object)[q.col],
                    "probability": q.data,
                    "count": c.data,
                }
            )
        ]
        for label, r in (("(conversion)", self.r_conv), ("(null)", self.r_null)):
            nz = np.flatnonzero(r > 0)
            rows.append(
                pd.DataFrame(
                    {
                        "from": np.asarray(names, dtype=object)[nz],
                        "to": label,
                        "probability": r[nz],
                        "count": r[nz] * self.out_total[nz],
                    }
                )
            )
        return pd.concat(rows, ignore_index=True)

    def _name(self, i: int) -> str:
        parts = [self.channels[d - 1] for d in self.window[i][::-1] if d > 0]
        return " > ".join(parts)


class MarkovAttribution(AttributionModel):
    """Markov attribution (order 1-4). Fitted: ``credits_`` (plus column ``removal_effect``),
    ``removal_effects_`` (channel -> RE), ``conversion_probability_`` (from start), ``chain_``."""

    def __init__(self, order: int = 1) -> None:
        if order not in (1, 2, 3, 4):
            raise ConfigError(f"order = {order}; Markov attribution supports orders 1 to 4")
        self.order = order

    @property
    def name(self) -> str:  # type: ignore[override]
        return "markov" if self.order == 1 else f"markov_{self.order}"

    def removal_effects(self, paths: PathCounts) -> tuple[np.ndarray, np.ndarray, MarkovChain]:
        chain = MarkovChain(paths, self.order)
        p_all, v_all = chain.solve()
        re = np.zeros(len(paths.channels))
        re_v = np.zeros(len(paths.channels))
        for c in range(len(paths.channels)):
            keep = ~chain.contains(c)
            p_c, v_c = chain.solve(keep)
            re[c] = 1 - p_c / p_all if p_all > 0 else 0.0
            re_v[c] = 1 - v_c / v_all if v_all > 0 else 0.0
        self._p_all = p_all
        return re, re_v, chain

    def _credit(self, paths: PathCounts) -> tuple[np.ndarray, np.ndarray]:
        re, re_v, _ = self.removal_effects(paths)
        return self._split(paths, re, re_v)

    @staticmethod
    def _split(
        paths: PathCounts, re: np.ndarray, re_v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        conv = paths.total_conversions * re / re.sum() if re.sum() > 0 else np.zeros_like(re)
        value = paths.total_value * re_v / re_v.sum() if re_v.sum() > 0 else np.zeros_like(re)
        return conv, value

    def fit(self, paths: PathCounts) -> MarkovAttribution:
        if paths.total_conversions <= 0:
            raise DataError("no conversions in the paths: attribution needs converting journeys")
        re, re_v, chain = self.removal_effects(paths)
        conv, value = self._split(paths, re, re_v)
        self.paths_ = paths
        self.channels_ = list(paths.channels)
        self.credits_ = _frame(paths.channels, conv, value)
        self.chain_ = chain
        self.conversion_probability_ = self._p_all
        self.removal_effects_ = dict(zip(paths.channels, re.tolist(), strict=True))
        self.credits_["removal_effect"] = re
        return self
