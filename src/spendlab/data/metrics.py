"""Ratios with the glossary's zero-denominator policy: one helper for warehouse expressions
(:func:`ratio`), its NumPy twin for in-memory frames (:func:`ratio_array`), and
:func:`metric_ratio` for a glossary ratio (``ctr``, ``cpc``, ``cpm``, ``cvr``, ``cpa``, ``roas``)
from its base sums.

The policy (:class:`spendlab.core.metrics.ZeroPolicy`) says what ``num / den`` is when ``den``
is 0; never a backend's own ``x / 0`` behaviour:

- ``NULL``: undefined (NULL; NaN in arrays), so a comparison on it is not met;
- ``ZERO``: 0;
- ``INFINITE``: +inf when ``num > 0``, undefined when ``num`` is 0 too (CPA with spend and no
  conversions is +inf; no spend and no conversions has no CPA).

+inf is a value here, ordered above every number (the worst CPA sorts first, highest to
lowest); JSON has no infinity, so interfaces print it as null (:func:`spendlab.core.jsonsafe.
jsonable`).
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
import numpy as np

from spendlab.core.metrics import ZeroPolicy, metric

INF = float("inf")

#: Decimals base sums are rounded to (see :func:`exact_sum`): a millionth of a currency unit.
SUM_DECIMALS = 6


def exact_sum(x: ir.NumericValue, where: ir.BooleanValue | None = None) -> ir.NumericValue:
    """A sum of a column, the same on every run: a parallel warehouse adds floating values in
    no fixed order, so the same rows can sum to values an ulp apart from run to run
    (0.1 + 0.2 + 0.3 vs 0.3 + 0.2 + 0.1), and two interfaces asking for one number (the CLI's
    and the REST API's current spend) could print 441.0203571428572 and 441.02035714285716.
    Floating sums are rounded to :data:`SUM_DECIMALS` decimals; integer sums are exact and left
    as they are."""
    s = x.sum(where=where)
    return s.round(SUM_DECIMALS) if x.type().is_floating() else s


def ratio(num: ir.NumericValue, den: ir.NumericValue, policy: ZeroPolicy | str) -> ir.FloatingValue:
    """``num / den`` as a float64 expression, ``policy`` deciding the value where ``den`` is 0
    (a NULL ``num`` or ``den`` gives NULL)."""
    policy = ZeroPolicy(policy)
    null = ibis.null().cast("float64")
    num = num.cast("float64")
    den = den.cast("float64")
    if policy is ZeroPolicy.ZERO:
        zero: ir.FloatingValue = ibis.literal(0.0)
    elif policy is ZeroPolicy.INFINITE:
        zero = ibis.ifelse(num > 0, ibis.literal(INF), null)
    else:
        zero = null
    return ibis.ifelse(den == 0, zero, num / ibis.ifelse(den == 0, 1.0, den))


def ratio_array(num: np.ndarray, den: np.ndarray, policy: ZeroPolicy | str) -> np.ndarray:
    """The NumPy twin of :func:`ratio`: float arrays, NaN where the ratio is undefined."""
    policy = ZeroPolicy(policy)
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / np.where(den == 0, 1.0, den)
    if policy is ZeroPolicy.ZERO:
        zero = np.zeros_like(r)
    elif policy is ZeroPolicy.INFINITE:
        zero = np.where(num > 0, INF, np.nan)
    else:
        zero = np.full_like(r, np.nan)
    return np.where(den == 0, zero, r)


def policy(name: str) -> ZeroPolicy:
    """The zero-denominator policy of a glossary ratio (``cpa``: INFINITE, ``roas``: NULL...)."""
    m = metric(name)
    if m.zero_policy is None or m.numerator is None or m.denominator is None:
        raise KeyError(f"{name!r} is not a ratio of base sums")
    return m.zero_policy


def metric_ratio(name: str, sums: Mapping[str, ir.NumericValue]) -> ir.FloatingValue:
    """A glossary ratio (``cpa``, ``cpm``, ...) from the base sums it is made of (``sums`` maps
    ``spend``, ``clicks``, ... to expressions), with its policy and scale (CPM per thousand)."""
    zp, m = policy(name), metric(name)
    r = ratio(sums[str(m.numerator)], sums[str(m.denominator)], zp)
    return r * m.scale if m.scale != 1 else r
