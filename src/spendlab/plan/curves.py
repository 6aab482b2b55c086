"""Response curves: one interface over hand-entered curves, per-campaign fits and MMM posteriors.

A response curve maps spend ``x >= 0`` (per period, in the workspace currency) to the expected KPI
(revenue or conversions). Four families, each vectorised over many entities and, optionally,
over posterior draws (parameter arrays of shape ``(n,)`` or ``(draws, n)``):

=================  ============================================  ==========================
family             response f(x)                                 parameters
=================  ============================================  ==========================
hill               beta * x^s / (x^s + half^s)                   beta, half, s
logistic           beta * (1 - exp(-lam x)) / (1 + exp(-lam x))  beta, lam
exponential        beta * (1 - exp(-x / scale))                  beta, scale
michaelis_menten   beta * x / (half + x)                         beta, half
=================  ============================================  ==========================

``beta`` is the saturation level (the response as spend grows without bound). Logistic,
exponential, Michaelis-Menten and Hill with ``s <= 1`` are concave; Hill with ``s > 1`` is
S-shaped (convex up to the inflection ``half * ((s-1)/(s+1))^(1/s)``, concave after).

:class:`ResponseCurves` holds curves of several families for a list of entity ids; build it with
:func:`curves_from_frame` (the tidy frame an MMM hands over) or :func:`curves_from_json` (the CLI
format).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spendlab.errors import ConfigError, DataError

FAMILIES: dict[str, tuple[str, ...]] = {
    "hill": ("beta", "half", "s"),
    "logistic": ("beta", "lam"),
    "exponential": ("beta", "scale"),
    "michaelis_menten": ("beta", "half"),
}

_NEWTON_STEPS = 40


def adstock_steady_state(decay: float | np.ndarray, *, normalized: bool = False) -> np.ndarray:
    """Steady-state multiplier of geometric adstock ``a_t = x_t + decay * a_{t-1}``.

    Spending ``x`` every period settles at adstocked spend ``x / (1 - decay)``; with a normalized
    kernel (weights summing to 1) the factor is 1. Multiply spend by this factor before evaluating
    a curve fitted on adstocked spend.
    """
    d = np.asarray(decay, dtype=float)
    if np.any((d < 0) | (d >= 1)):
        raise ConfigError(f"adstock decay must be in [0, 1), got {decay!r}")
    return np.ones_like(d) if normalized else 1.0 / (1.0 - d)


@dataclass(frozen=True)
class CurveFamily:
    """Curves of one family for ``n`` entities; each parameter is an array ``(n,)`` or
    ``(draws, n)``. All methods broadcast ``x`` against the parameters."""

    family: str
    params: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(
                f"unknown curve type {self.family!r}; use one of {', '.join(FAMILIES)}"
            )
        need = FAMILIES[self.family]
        missing = [p for p in need if p not in self.params]
        if missing:
            raise ConfigError(
                f"{self.family} curve needs parameters {', '.join(need)}; missing {missing}"
            )
        arrs = {p: np.asarray(self.params[p], dtype=float) for p in need}
        for p, a in arrs.items():
            bad = ~np.isfinite(a) | (a < 0) | ((a == 0) & (p != "beta"))
            if np.any(bad):
                raise ConfigError(
                    f"{self.family} parameter {p!r} must be finite and > 0 "
                    f"(beta may be 0); got {a[bad].ravel()[:3].tolist()}"
                )
        object.__setattr__(self, "params", arrs)
        object.__setattr__(self, "_warm", {})  # last Newton iterate (Hill inverse warm start)

    @property
    def n(self) -> int:
        return int(np.shape(self.params["beta"])[-1])

    @property
    def draws(self) -> int | None:
        b = self.params["beta"]
        return int(b.shape[0]) if b.ndim == 2 else None

    def take(self, idx: np.ndarray) -> CurveFamily:
        """The curves of a subset of entities (index along the last axis)."""
        return CurveFamily(self.family, {k: v[..., idx] for k, v in self.params.items()})

    def point(self, draw: int | None = None) -> CurveFamily:
        """One draw (``draw``) or the posterior-mean parameters (None) as a draw-free family."""
        if self.draws is None:
            return self
        if draw is None:
            return CurveFamily(self.family, {k: v.mean(axis=0) for k, v in self.params.items()})
        return CurveFamily(self.family, {k: v[draw] for k, v in self.params.items()})

    # --- evaluation -----------------------------------------------------------------------------
    def response(self, x: np.ndarray) -> np.ndarray:
        p, x = self.params, np.maximum(np.asarray(x, dtype=float), 0.0)
        b = p["beta"]
        if self.family == "hill":
            t = x / p["half"]
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                ts = t ** p["s"]
                return np.where(np.isinf(ts), b, b * ts / (1.0 + ts))
        if self.family == "logistic":
            return b * np.tanh(0.5 * p["lam"] * x)
        if self.family == "exponential":
            return b * -np.expm1(-x / p["scale"])
        return b * x / (p["half"] + x)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        """d response / d spend (the marginal return: ``mroas`` for revenue curves)."""
        p, x = self.params, np.maximum(np.asarray(x, dtype=float), 0.0)
        b = p["beta"]
        if self.family == "hill":
            s, h = p["s"], p["half"]
            u = np.log(np.maximum(x, 1e-300) / h)
            logd = (s - 1) * u - 2 * np.logaddexp(0.0, s * u)
            out = b * s / h * np.exp(logd)
            return np.where(x > 0, out, np.where(s < 1, np.inf, np.where(s == 1, b / h, 0.0)))
        if self.family == "logistic":
            c = np.cosh(np.minimum(0.5 * p["lam"] * x, 350.0))
            return 0.5 * b * p["lam"] / (c * c)
        if self.family == "exponential":
            return b / p["scale"] * np.exp(-x / p["scale"])
        return b * p["half"] / (p["half"] + x) ** 2

    def inflection(self) -> np.ndarray:
        """Spend where the curve turns from convex to concave (0 for concave families)."""
        if self.family != "hill":
            return np.zeros_like(self.params["beta"])
        s, h = self.params["s"], self.params["half"]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = h * np.where(s > 1, ((s - 1) / (s + 1)) ** (1 / s), 0.0)
        return np.broadcast_to(out, np.broadcast(s, h, self.params["beta"]).shape).copy()

    def inverse_marginal(self, m: np.ndarray) -> np.ndarray:
        """Spend ``x`` on the concave branch where ``marginal(x) == m`` (``m > 0``).

        Closed form for logistic, exponential and Michaelis-Menten; for Hill a vectorised Newton
        iteration on ``u = log(x / half)`` (the log-marginal is concave in ``u``, so Newton from
        the right converges monotonically). Returns the left end of the concave branch (0 or the
        inflection) when ``m`` exceeds the largest marginal there.
        """
        p = self.params
        b = p["beta"]
        m = np.asarray(m, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.family == "exponential":
                x = p["scale"] * np.log(b / (p["scale"] * m))
            elif self.family == "michaelis_menten":
                x = np.sqrt(b * p["half"] / m) - p["half"]
            elif self.family == "logistic":
                r = 0.5 * b * p["lam"] / m  # cosh^2(u) = r
                x = 2.0 / p["lam"] * np.arccosh(np.sqrt(np.maximum(r, 1.0)))
            else:
                x = self._hill_inverse(m)
            x = np.where(b <= 0, 0.0, x)
            return np.maximum(np.nan_to_num(x, nan=0.0, posinf=np.inf), self.inflection())

    def _hill_inverse(self, m: np.ndarray) -> np.ndarray:
        b, h, s = self.params["beta"], self.params["half"], self.params["s"]
        target = np.log(m * h / (b * s))
        s, target = np.broadcast_arrays(s, target)
        u_inf = np.where(s > 1, np.log(np.maximum(s - 1, 1e-300) / (s + 1)) / s, -np.inf)
        h_at = (s - 1) * u_inf - 2 * np.logaddexp(0.0, s * u_inf)  # log max marginal (s>1)
        u = -target / (s + 1)
        u = np.where(s < 1, np.minimum(u, target / np.where(s < 1, s - 1, -1.0)), u)
        u = np.maximum(u, np.where(np.isfinite(u_inf), u_inf, -np.inf))
        u = np.array(u, dtype=float)
        warm = self._warm.get("u")  # type: ignore[attr-defined]
        if warm is not None and warm.shape == u.shape:
            # Newton on the concave, decreasing log-marginal converges monotonically from any
            # start right of the root (log-marginal <= target): keep warm starts that are
            wm = np.where(np.isfinite(warm), warm, 0.0)
            hw = (s - 1) * wm - 2 * np.logaddexp(0.0, s * wm)
            u = np.where(np.isfinite(warm) & np.isfinite(u) & (wm >= u_inf) & (hw <= target), wm, u)
        act = np.flatnonzero(np.isfinite(u) & np.isfinite(target))
        for _ in range(_NEWTON_STEPS):
            if act.size == 0:
                break
            sa, ua, ta = s[act], u[act], target[act]
            su = sa * ua
            e = np.exp(np.minimum(su, 700.0))
            sp = np.where(su > 35.0, su, np.log1p(e))  # softplus(su)
            g = (sa - 1) * ua - 2 * sp - ta
            dg = (sa - 1) - 2 * sa * (e / (1.0 + e))
            step = g / dg
            u[act] = ua - step
            act = act[~(np.abs(step) <= 1e-12 * (1 + np.abs(ua))) & np.isfinite(u[act])]
        self._warm["u"] = u.copy()  # type: ignore[attr-defined]
        x = h * np.exp(u)
        return np.where((s > 1) & (target >= h_at), h * np.exp(np.where(s > 1, u_inf, 0.0)), x)

    def tangent_point(self) -> np.ndarray:
        """Spend ``tau`` where the line from the origin touches the curve
        (``f'(tau) = f(tau)/tau``).

        The concave envelope on ``[0, inf)`` is that line up to ``tau`` and the curve after it;
        ``tau`` is 0 for concave curves. For Hill ``s > 1``: ``(tau/half)^s = s - 1``.
        """
        if self.family != "hill":
            return np.zeros_like(self.params["beta"])
        s, h = self.params["s"], self.params["half"]
        return np.where(s > 1, h * np.maximum(s - 1, 0.0) ** (1 / s), 0.0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass
class ResponseCurves:
    """Response curves of ``len(ids)`` entities, possibly of several families.

    ``blocks`` pairs each :class:`CurveFamily` with the positions (into ``ids``) of its entities.
    With posterior draws every block has the same number of draws. Methods take spend as an array
    in ``ids`` order and return ``(n,)`` or ``(draws, n)`` arrays.
    """

    ids: list[str]
    blocks: list[tuple[np.ndarray, CurveFamily]]
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        seen = np.zeros(len(self.ids), dtype=int)
        for idx, fam in self.blocks:
            if len(idx) != fam.n:
                raise ConfigError("curve block size does not match its index")
            seen[idx] += 1
        if np.any(seen != 1):
            raise ConfigError("every entity needs exactly one curve")
        if len(set(self.ids)) != len(self.ids):
            dup = pd.Series(self.ids)[pd.Series(self.ids).duplicated()].iloc[0]
            raise ConfigError(f"duplicate entity id {dup!r} in the curves; ids must be unique")
        draws = {fam.draws for _, fam in self.blocks}
        if len(draws) > 1:
            raise ConfigError(f"every curve needs the same number of draws, got {sorted(draws)}")

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def draws(self) -> int | None:
        return self.blocks[0][1].draws if self.blocks else None

    def _apply(self, name: str, x: np.ndarray | None = None) -> np.ndarray:
        shape = (self.draws, self.n) if self.draws else (self.n,)
        out = np.zeros(shape)
        for idx, fam in self.blocks:
            fn = getattr(fam, name)
            out[..., idx] = fn() if x is None else fn(np.asarray(x, dtype=float)[..., idx])
        return out

    def response(self, x: np.ndarray) -> np.ndarray:
        return self._apply("response", x)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return self._apply("marginal", x)

    def inverse_marginal(self, m: np.ndarray) -> np.ndarray:
        m = np.broadcast_to(np.asarray(m, dtype=float), (self.n,))
        return self._apply("inverse_marginal", m)

    def tangent_point(self) -> np.ndarray:
        return self._apply("tangent_point")

    def inflection(self) -> np.ndarray:
        return self._apply("inflection")

    def point(self, draw: int | None = None) -> ResponseCurves:
        """Draw-free curves: one posterior draw, or (None) the posterior-mean parameters."""
        return ResponseCurves(
            self.ids, [(i, f.point(draw)) for i, f in self.blocks], self.meta.copy()
        )

    def subset(self, ids: Sequence[str]) -> ResponseCurves:
        pos = {k: i for i, k in enumerate(self.ids)}
        want = np.array([pos[i] for i in ids])
        inv = np.full(self.n, -1)
        inv[want] = np.arange(len(want))
        blocks = []
        for idx, fam in self.blocks:
            keep = inv[idx] >= 0
            if keep.any():
                blocks.append((inv[idx][keep], fam.take(np.flatnonzero(keep))))
        meta = self.meta.iloc[want].reset_index(drop=True) if len(self.meta) else self.meta
        return ResponseCurves(list(ids), blocks, meta)

    def is_concave(self) -> np.ndarray:
        """Per entity: True when the curve has no convex part (every draw)."""
        tau = self.tangent_point()
        return np.all(tau <= 0, axis=0) if tau.ndim == 2 else tau <= 0

    def table(self, x: np.ndarray) -> pd.DataFrame:
        """Tidy frame: id, spend, response, marginal (posterior mean when there are draws)."""
        r, m = self.response(x), self.marginal(x)
        if r.ndim == 2:
            r, m = r.mean(axis=0), m.mean(axis=0)
        return pd.DataFrame({"id": self.ids, "spend": x, "response": r, "marginal": m})


def from_arrays(ids: Sequence[str], family: str, **params: Iterable[float]) -> ResponseCurves:
    """Curves of one family from parameter arrays (``(n,)`` or ``(draws, n)``)."""
    fam = CurveFamily(family, {k: np.asarray(v, dtype=float) for k, v in params.items()})
    return ResponseCurves([str(i) for i in ids], [(np.arange(len(ids)), fam)])


def curves_from_frame(df: pd.DataFrame, *, id_column: str = "channel") -> ResponseCurves:
    """Curves from a tidy frame: one row per (entity, draw).

    Columns: ``channel`` (or ``id_column``), ``type`` (a family name), ``beta`` and the family's
    other parameters (``half``, ``s``, ``lam``, ``scale``); optional ``draw`` (posterior draw
    number; every entity must have the same draws). Extra columns are ignored. This is the shape
    the MMM's ``response_curves()`` returns.
    """
    if id_column not in df.columns or "type" not in df.columns or "beta" not in df.columns:
        raise DataError(
            f"curve frame needs columns {id_column!r}, 'type' and 'beta'; got {list(df.columns)}"
        )
    df = df.copy()
    df[id_column] = df[id_column].astype(str)
    has_draws = "draw" in df.columns
    ids = list(dict.fromkeys(df[id_column]))
    pos = {k: i for i, k in enumerate(ids)}
    types = df.groupby(id_column, sort=False)["type"].nunique()
    if (types > 1).any():
        raise DataError(f"entity {types[types > 1].index[0]!r} has several curve types")
    blocks = []
    n_draws = None
    for family, g in df.groupby("type", sort=False):
        fam_name = str(family).lower()
        if fam_name not in FAMILIES:
            raise DataError(f"unknown curve type {family!r}; use one of {', '.join(FAMILIES)}")
        names = FAMILIES[fam_name]
        missing = [c for c in names if c not in g.columns or g[c].isna().any()]
        if missing:
            raise DataError(f"{fam_name} curves need column(s) {missing} filled on every row")
        ents = list(dict.fromkeys(g[id_column]))
        if has_draws:
            wide = g.pivot_table(index="draw", columns=id_column, values=list(names))
            counts = g.groupby(id_column)["draw"].nunique()
            if n_draws is None:
                n_draws = int(counts.iloc[0])
            if (counts != n_draws).any() or wide.isna().any().any():
                raise DataError("every entity needs the same posterior draws in the curve frame")
            params = {p: wide[p][ents].to_numpy() for p in names}
        else:
            if g[id_column].duplicated().any():
                raise DataError("several rows for one entity without a 'draw' column")
            gi = g.set_index(id_column).loc[ents]
            params = {p: gi[p].to_numpy(dtype=float) for p in names}
        blocks.append((np.array([pos[e] for e in ents]), CurveFamily(fam_name, params)))
    return ResponseCurves(ids, blocks)


@dataclass(frozen=True)
class EntitySpec:
    """One entity of the CLI's CURVES file: its curve and optional bounds."""

    id: str
    family: str
    params: dict[str, float]
    min: float | None = None
    max: float | None = None
    current: float | None = None
    group: str | None = None
    observed_min: float | None = None
    observed_max: float | None = None


def curves_from_json(
    source: str | Path | list[dict[str, Any]],
) -> tuple[ResponseCurves, pd.DataFrame]:
    """Parse the CURVES format: a JSON list of
    ``{"id", "curve": {"type", "params": {...}}, "min", "max", "current"}`` (``min``/``max``/
    ``current`` optional; also optional ``group`` and ``observed_min``/``observed_max``).

    Returns the curves and a frame of the per-entity fields (id, min, max, current, group,
    observed_min, observed_max; NaN/None where absent).
    """
    if isinstance(source, list):
        items, where = source, "curves"
    else:
        path = Path(source)
        where = str(path)
        try:
            items = json.loads(path.read_text())
        except FileNotFoundError:
            raise DataError(f"curves file {where} not found") from None
        except json.JSONDecodeError as e:
            raise DataError(f"{where} is not valid JSON: {e}") from None
    if not isinstance(items, list) or not items:
        raise DataError(f"{where}: expected a non-empty JSON list of entities")
    rows: list[dict[str, Any]] = []
    for k, it in enumerate(items):
        try:
            curve = it["curve"]
            family = str(curve["type"]).lower()
            params = {str(p): float(v) for p, v in curve.get("params", {}).items()}
            ident = str(it["id"])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(
                f"{where}: entity #{k + 1} must look like "
                '{"id": ..., "curve": {"type": ..., "params": {...}}}; problem with ' + str(e)
            ) from None
        if family not in FAMILIES:
            raise DataError(
                f"{where}: entity {ident!r} has unknown curve type {family!r}; "
                f"use one of {', '.join(FAMILIES)}"
            )
        miss = [p for p in FAMILIES[family] if p not in params]
        if miss:
            raise DataError(f"{where}: entity {ident!r} ({family}) is missing params {miss}")
        rows.append({"id": ident, "type": family, **params, **_extras(it)})
    df = pd.DataFrame(rows)
    curves = curves_from_frame(df, id_column="id")
    extra = df.set_index("id").loc[curves.ids].reset_index()
    cols = ["id", "min", "max", "current", "group", "observed_min", "observed_max"]
    for c in cols:
        if c not in extra.columns:
            extra[c] = None if c == "group" else np.nan
    return curves, extra[cols]


def _extras(it: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("min", "max", "current", "observed_min", "observed_max"):
        v = it.get(key)
        out[key] = np.nan if v is None else float(v)
    out["group"] = None if it.get("group") is None else str(it["group"])
    return out
