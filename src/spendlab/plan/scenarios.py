"""Scenarios: named what-if allocations and their predicted KPIs.

A scenario starts from the current spend per entity (see
:func:`spendlab.plan.curvesets.current_spend`) and either applies **operations** in order or sets
a full **allocation** (entities not named keep their current spend); an optional ``budget`` then
rescales the result proportionally to that total. Operations (dicts, or text for the CLI):

=========================================  ==================================  ==================
dict                                       text                                effect
=========================================  ==================================  ==================
``{"op": "scale", "channel": "tv",         ``scale tv by -20%``                tv x 0.8
"pct": -20}``
``{"op": "shift", "from": "tv",            ``shift 20% from tv to social``     moves 20% of tv's
"to": "social", "pct": 20}``                                                   spend to social
``{"op": "set", "channel": "tv",           ``set tv to 1000``                  tv = 1000
"value": 1000}``
=========================================  ==================================  ==================

:func:`predict` evaluates the curves at an allocation: ``outcome`` (sum of responses), ``iroas``
(outcome / spend), ``profit`` (margin x outcome - spend) and ``mroas`` (the spend-weighted mean
marginal return: what one more unit spent in proportion to the allocation brings), each as
``{mean, lo, hi}``: the posterior mean and a central interval across posterior draws (``lo ==
hi == mean`` without draws). Spend is per the curve set's period.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from spendlab.core.jsonsafe import jsonable
from spendlab.errors import ConfigError
from spendlab.plan import store
from spendlab.plan.constraints import (
    Constraints,
    InfeasibleError,
    TrustRegion,
    build_bounds,
    trust_bounds,
)
from spendlab.plan.curves import ResponseCurves
from spendlab.plan.curvesets import CurveSet
from spendlab.plan.optimizer import optimize

OPS = ("scale", "shift", "set")
KPIS = ("spend", "outcome", "iroas", "mroas", "profit")
_TEXT = [
    ("scale", re.compile(r"^scale\s+(?P<channel>\S+)\s+(?:by\s+)?(?P<pct>[-+]?[\d.]+)\s*%$", re.I)),
    (
        "shift",
        re.compile(
            r"^(?:shift|move)\s+(?P<pct>[\d.]+)\s*%\s+(?:of\s+|from\s+)?(?P<from>\S+)\s+"
            r"to\s+(?P<to>\S+)$",
            re.I,
        ),
    ),
    ("set", re.compile(r"^set\s+(?P<channel>\S+)\s+(?:to\s+|=\s*)(?P<value>[\d.eE+]+)$", re.I)),
]


def parse_operation(op: str | Mapping[str, Any]) -> dict[str, Any]:
    """One operation as a checked dict (accepts the dict form or the text form above)."""
    if isinstance(op, str):
        text = " ".join(op.strip().split())
        for kind, rx in _TEXT:
            m = rx.match(text)
            if m:
                return parse_operation({"op": kind, **m.groupdict()})
        raise ConfigError(
            f"cannot read operation {op!r}; write 'scale tv by -20%', "
            "'shift 20% from tv to social' or 'set tv to 1000'"
        )
    if not isinstance(op, Mapping):
        raise ConfigError(f"an operation is a dict or a text, got {type(op).__name__}")
    kind = str(op.get("op", "")).lower()
    if kind not in OPS:
        raise ConfigError(f"operation {dict(op)!r}: 'op' must be one of {', '.join(OPS)}")

    def num(key: str) -> float:
        try:
            v = float(op[key])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"operation {dict(op)!r} needs a number {key!r}") from None
        if not np.isfinite(v):
            raise ConfigError(f"operation {dict(op)!r}: {key!r} must be finite")
        return v

    def ident(key: str) -> str:
        v = op.get(key)
        if v is None or not str(v).strip():
            raise ConfigError(f"operation {dict(op)!r} needs {key!r} (an entity id)")
        return str(v).strip()

    if kind == "scale":
        pct = num("pct")
        if pct < -100:
            raise ConfigError(f"scale by {pct}% would make spend negative; use >= -100")
        return {"op": "scale", "channel": ident("channel"), "pct": pct}
    if kind == "shift":
        pct = num("pct")
        if not 0 <= pct <= 100:
            raise ConfigError(f"shift moves 0-100% of a channel's spend, got {pct}")
        src, dst = ident("from"), ident("to")
        if src == dst:
            raise ConfigError(f"shift from {src!r} to itself does nothing; pick two entities")
        return {"op": "shift", "from": src, "to": dst, "pct": pct}
    value = num("value")
    if value < 0:
        raise ConfigError(f"set {op.get('channel')!r} to {value}: spend must be >= 0")
    return {"op": "set", "channel": ident("channel"), "value": value}


def apply_operations(
    base: Mapping[str, float], operations: Sequence[str | Mapping[str, Any]]
) -> dict[str, float]:
    """Apply operations in order to ``base`` (spend per entity); returns the new allocation."""
    out = {k: float(v) for k, v in base.items()}

    def known(i: str) -> str:
        if i not in out:
            raise ConfigError(f"unknown entity {i!r} in an operation; known: {sorted(out)}")
        return i

    for raw in operations:
        op = parse_operation(raw)
        if op["op"] == "scale":
            k = known(op["channel"])
            out[k] = out[k] * (1 + op["pct"] / 100)
        elif op["op"] == "shift":
            a, b = known(op["from"]), known(op["to"])
            moved = out[a] * op["pct"] / 100
            out[a], out[b] = out[a] - moved, out[b] + moved
        else:
            out[known(op["channel"])] = op["value"]
    return out


def _interval(v: np.ndarray, interval: float) -> dict[str, float]:
    if v.ndim == 0:
        x = float(v)
        return {"mean": x, "lo": x, "hi": x}
    a = (1 - interval) / 2
    return {
        "mean": float(v.mean()),
        "lo": float(np.quantile(v, a)),
        "hi": float(np.quantile(v, 1 - a)),
    }


def predict(
    curves: ResponseCurves,
    spend: Sequence[float] | np.ndarray | Mapping[str, float],
    *,
    margin: float = 1.0,
    interval: float = 0.9,
) -> dict[str, Any]:
    """Predicted KPIs of an allocation (array in ``curves.ids`` order, or ``{id: spend}``).

    Returns ``spend`` (total), ``outcome``/``iroas``/``mroas``/``profit`` as ``{mean, lo, hi}``,
    ``interval``, ``point`` ("posterior mean" or "point") and ``entities``: per entity ``id``,
    ``spend``, ``outcome`` (mean), ``outcome_lo``/``outcome_hi``, ``mroas`` (mean marginal return
    at that spend)."""
    if not 0 < interval < 1:
        raise ConfigError(f"interval must be in (0, 1), got {interval}")
    x = _as_array(curves, spend)
    r, m = curves.response(x), curves.marginal(x)
    total = float(x.sum())
    out_tot = r.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        iroas = out_tot / total if total > 0 else np.full_like(out_tot, np.nan)
        mroas = (m * x).sum(axis=-1) / total if total > 0 else m.mean(axis=-1) * np.nan
    ent_lo = ent_hi = r
    if r.ndim == 2:
        a = (1 - interval) / 2
        ent_lo, ent_hi = np.quantile(r, a, axis=0), np.quantile(r, 1 - a, axis=0)
    r_mean = r.mean(axis=0) if r.ndim == 2 else r
    m_mean = m.mean(axis=0) if m.ndim == 2 else m
    entities = [
        {
            "id": i,
            "spend": float(x[k]),
            "outcome": float(r_mean[k]),
            "outcome_lo": float(ent_lo[k]),
            "outcome_hi": float(ent_hi[k]),
            "mroas": float(m_mean[k]),
        }
        for k, i in enumerate(curves.ids)
    ]
    return {
        "spend": total,
        "outcome": _interval(out_tot, interval),
        "iroas": _interval(np.asarray(iroas), interval),
        "mroas": _interval(np.asarray(mroas), interval),
        "profit": _interval(margin * out_tot - total, interval),
        "interval": interval,
        "point": "posterior mean" if r.ndim == 2 else "point",
        "entities": entities,
    }


def _as_array(curves: ResponseCurves, spend: Any) -> np.ndarray:
    if isinstance(spend, Mapping):
        unknown = set(map(str, spend)) - set(curves.ids)
        if unknown:
            raise ConfigError(f"unknown entity id(s) {sorted(unknown)[:5]}; known: {curves.ids}")
        x = np.array([float(spend.get(i, 0.0)) for i in curves.ids])
    else:
        x = np.asarray(spend, dtype=float)
    if x.shape != (curves.n,):
        raise ConfigError(f"expected {curves.n} spends (one per entity), got {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ConfigError("spend must be finite and >= 0 for every entity")
    return x


def build_scenario(
    cs: CurveSet,
    current: Mapping[str, float],
    name: str,
    *,
    operations: Sequence[str | Mapping[str, Any]] = (),
    allocation: Mapping[str, float] | None = None,
    budget: float | None = None,
    margin: float = 1.0,
    interval: float = 0.9,
) -> dict[str, Any]:
    """A scenario on curve set ``cs`` from ``current`` spend per entity. Returns a JSON-ready
    dict: ``name``, ``period``, ``curve_set`` {id, name}, ``current`` and ``allocation`` {id:
    spend}, ``baseline`` and ``predicted`` (:func:`predict` of each), ``change``: predicted minus
    baseline outcome as {mean, lo, hi} (per posterior draw, so the interval is of the difference)
    and the change in spend."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ConfigError("a scenario needs a name of 1-200 characters")
    if operations and allocation:
        raise ConfigError("give operations or an allocation, not both")
    curves = cs.curves()
    base = {i: float(current.get(i, 0.0)) for i in curves.ids}
    if allocation:
        unknown = set(map(str, allocation)) - set(base)
        if unknown:
            raise ConfigError(
                f"allocation names unknown entities {sorted(unknown)[:5]}; known: {curves.ids}"
            )
        alloc = {**base, **{str(k): float(v) for k, v in allocation.items()}}
    else:
        alloc = apply_operations(base, list(operations))
    if budget is not None:
        if not np.isfinite(budget) or budget < 0:
            raise ConfigError(f"budget must be finite and >= 0, got {budget}")
        tot = sum(alloc.values())
        if tot <= 0 and budget > 0:
            raise ConfigError(
                "cannot rescale an all-zero allocation to a budget; give an allocation"
            )
        alloc = {k: (v * budget / tot if tot > 0 else 0.0) for k, v in alloc.items()}
    bx, ax = _as_array(curves, base), _as_array(curves, alloc)
    diff = curves.response(ax).sum(axis=-1) - curves.response(bx).sum(axis=-1)
    return jsonable(
        {
            "name": name,
            "period": cs.period,
            "curve_set": {"id": cs.id, "name": cs.name},
            "current": base,
            "allocation": alloc,
            "baseline": predict(curves, bx, margin=margin, interval=interval),
            "predicted": predict(curves, ax, margin=margin, interval=interval),
            "change": {
                "outcome": _interval(diff, interval),
                "spend": float(ax.sum() - bx.sum()),
            },
        }
    )


def recommend(
    cs: CurveSet,
    current: Mapping[str, float],
    *,
    budget: float | None = None,
    constraints: Constraints | None = None,
    goal: str = "response",
    target: float | None = None,
    risk: str = "mean",
    interval: float = 0.9,
    observed: Mapping[str, Mapping[str, float]] | None = None,
    trust: TrustRegion | None = None,
) -> dict[str, Any]:
    """The optimizer's allocation of ``budget`` (default: the current total) on ``cs``, with the
    expected uplift over the current allocation (per posterior draw: {mean, lo, hi} and
    ``p_positive``), the KKT gap and the binding constraints in words.

    ``observed``: the spend range each entity ran at (:func:`spendlab.plan.curvesets.
    observed_spend` rows by id: ``q_lo``, ``q_hi``, ``min``, ``max``); spend outside
    ``[min, max]`` is flagged ``outside_observed`` (an entity without history: any move).
    ``trust``: the trust region (:class:`TrustRegion`) made hard bounds; ``None`` turns it off.
    ``trust`` in the result lists each entity's bounds, why they hold and which one binds, and
    the advice (``test_first`` and a plain ``advice`` sentence)."""
    curves = cs.curves()
    ids = curves.ids
    cur = np.array([float(current.get(i, 0.0)) for i in ids])
    b = float(cur.sum()) if budget is None else float(budget)
    if b <= 0 and budget is None and goal in ("response", "revenue", "conversions"):
        raise ConfigError(
            "no current spend found for these curves (and no budget given): load ad delivery "
            "for the curve set's campaigns, or pass a budget"
        )
    obs = {i: dict((observed or {}).get(i) or {}) for i in ids}
    col = {k: np.array([float(obs[i].get(k, np.nan)) for i in ids]) for k in OBSERVED_KEYS}
    seen = np.isfinite(col["min"]) & np.isfinite(col["max"])
    omin, omax = np.where(seen, col["min"], cur), np.where(seen, col["max"], cur)
    cons = constraints or Constraints()
    if trust is not None:
        cons = dataclasses.replace(cons, trust=trust_bounds(cur, col["q_lo"], col["q_hi"], trust))
    notes: list[str] = []
    run = dict(goal=goal, target=target, current=cur, risk=risk, interval=interval)
    try:
        res = optimize(curves, b, constraints=cons, observed=(omin, omax), **run)
    except InfeasibleError:
        if trust is None or goal not in ("response", "revenue", "conversions"):
            raise
        bd = build_bounds(ids, cons, cur)
        lo_sum, hi_sum = float(bd.lo.sum()), float(np.minimum(bd.hi, 1e300).sum())
        if b < lo_sum:  # never spend more than asked: the trust region's floors give way
            t = cons.trust
            cons = dataclasses.replace(
                cons, trust=dataclasses.replace(t, lo=np.zeros(len(ids)), lo_why=t.lo_why)
            )
            notes.append(
                f"the budget {b:,.2f} is below the trust region's lower bounds ({lo_sum:,.2f} "
                f"per {cs.period} in total): they are dropped, so some entities go below the "
                "spend they have run at"
            )
        else:  # spend what the trust region holds, and say so
            notes.append(
                f"the budget {b:,.2f} does not fit the trust region (it holds at most "
                f"{hi_sum:,.2f} per {cs.period}): the recommendation spends {hi_sum:,.2f}; "
                "widen the trust region (margin, max_step) or turn it off to spend the budget"
            )
            b = hi_sum
        res = optimize(curves, b, constraints=cons, observed=(omin, omax), **run)
    x = res.frame["spend"].to_numpy(dtype=float)
    uplift = curves.response(x).sum(axis=-1) - curves.response(cur).sum(axis=-1)
    out = res.to_dict()
    out["notes"] = notes + out["notes"]
    up = {**_interval(uplift, interval), "interval": interval}
    up["p_positive"] = float(np.mean(uplift > 0)) if uplift.ndim else None
    return jsonable(
        {
            "period": cs.period,
            "curve_set": {"id": cs.id, "name": cs.name},
            "budget": b,
            "current": dict(zip(ids, cur.tolist(), strict=True)),
            **out,
            "uplift": up,
            "trust": _trust_report(res.frame, col, seen, trust, up, cs.period),
            "predicted": predict(curves, x, interval=interval),
            "baseline": predict(curves, cur, interval=interval),
        }
    )


OBSERVED_KEYS = ("q_lo", "q_hi", "min", "max")
#: Below this posterior probability that the uplift is positive, a recommendation says to test.
P_CONFIDENT = 0.8
HOLDOUT_SHARE = 0.2
TEST_WEEKS = 4


def _trust_report(
    fr: pd.DataFrame,
    col: Mapping[str, np.ndarray],
    seen: np.ndarray,
    trust: TrustRegion | None,
    up: Mapping[str, Any],
    period: str,
) -> dict[str, Any]:
    """Each entity's bounds and why, which binds, the observed range, and the advice."""
    entities = []
    for k, r in enumerate(fr.itertuples(index=False)):
        entities.append(
            {
                "id": r.id,
                "current": float(r.current),
                "recommended": float(r.spend),
                "lo": float(r.lo),
                "hi": float(r.hi) if np.isfinite(r.hi) else None,
                "lo_why": r.lo_why,
                "hi_why": r.hi_why,
                "binds": r.binds or None,
                "observed": (
                    {key: float(col[key][k]) for key in OBSERVED_KEYS} if seen[k] else None
                ),
                "outside_observed": bool(r.outside_observed),
            }
        )
    test, advice = _advice(fr, up, period, trust is not None)
    return {
        "region": None if trust is None else dataclasses.asdict(trust),
        "entities": entities,
        "p_positive": up["p_positive"],
        "test_first": test,
        "advice": advice,
    }


def _advice(
    fr: pd.DataFrame, up: Mapping[str, Any], period: str, bounded: bool = True
) -> tuple[bool, str]:
    """``(test_first, a plain sentence)``: test before moving when the posterior draws do not
    agree that the move helps (P(uplift > 0) below :data:`P_CONFIDENT` or an interval that
    includes 0)."""
    moved = fr[np.abs(fr["change"]) > 0.01 * np.maximum(fr["current"], 1e-9)]
    if moved.empty:
        return False, "No move recommended: current spend is already the best within the bounds."
    p = up["p_positive"]
    pct = 100 * up["interval"]
    if p is None:
        return (
            False,
            "The curve set carries no posterior draws, so the uplift has no interval; "
            + (
                "the trust region keeps the move within the spend each entity has run at."
                if bounded
                else "with the trust region off, the move may go where no spend has been observed."
            ),
        )
    if p >= P_CONFIDENT and up["lo"] > 0:
        return False, (
            f"P(uplift > 0) = {p:.2f} and the {pct:.0f}% interval of the uplift "
            f"({up['lo']:,.0f} to {up['hi']:,.0f} per {period}) is above 0: the model's draws "
            "agree that this move helps."
        )
    order = moved.reindex(np.abs(moved["change"]).sort_values(ascending=False).index)
    what = ", ".join(
        f"{r.id} {'+' if r.change >= 0 else '-'}{_pct(r.change, r.current)}"
        for r in order.head(5).itertuples(index=False)
    )
    return True, (
        f"Test before you move: the model's draws disagree on whether this move helps "
        f"(P(uplift > 0) = {p:.2f}; {pct:.0f}% interval {up['lo']:,.0f} to {up['hi']:,.0f} per "
        f"{period}). Make the change for {what} in a test first: hold out about "
        f"{HOLDOUT_SHARE:.0%} of geos (or audiences) at today's spend, apply the new spend to "
        f"the rest for {TEST_WEEKS} weeks, and compare the two groups' outcome before moving "
        "the whole budget."
    )


def _pct(change: float, current: float) -> str:
    if current <= 0:
        return f"{abs(change):,.0f} (from 0)"
    return f"{abs(change) / current:.0%}"


# --- comparison and storage -----------------------------------------------------------------------
def compare(scenarios: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Side by side, tidy: one row per (scenario, entity, metric) with ``mean``, ``lo``, ``hi``.

    ``entity`` is ``"total"`` for the portfolio KPIs (``spend``, ``outcome``, ``iroas``,
    ``mroas``, ``profit``, ``outcome_change``) and an entity id for its ``spend`` and
    ``outcome``. Columns: ``scenario_id`` (None when unsaved), ``scenario``, ``entity``,
    ``metric``, ``mean``, ``lo``, ``hi``. Pivot with :func:`compare_table` for display."""
    cols = ["scenario_id", "scenario", "entity", "metric", "mean", "lo", "hi"]
    rows: list[dict[str, Any]] = []
    for sc in scenarios:
        sid, name, p = sc.get("id"), sc["name"], sc["predicted"]

        def add(entity: str, metric: str, v: Any, sid=sid, name=name) -> None:
            lo_hi = (v["mean"], v["lo"], v["hi"]) if isinstance(v, Mapping) else (v, v, v)
            rows.append(dict(zip(cols, (sid, name, entity, metric, *lo_hi), strict=True)))

        for k in KPIS:
            add("total", k, p[k])
        add("total", "outcome_change", sc["change"]["outcome"])
        for e in p["entities"]:
            add(e["id"], "spend", e["spend"])
            add(e["id"], "outcome", {"mean": e["outcome"], "lo": e["outcome_lo"],
                                     "hi": e["outcome_hi"]})  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def compare_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario (in order): the portfolio KPIs (means) and each entity's spend."""
    if tidy.empty:
        return pd.DataFrame()
    df = tidy.assign(key=tidy["scenario_id"].astype(str) + "\x00" + tidy["scenario"])
    keys = list(dict.fromkeys(df["key"]))
    rows = []
    for k in keys:
        g = df[df["key"] == k]
        g = g.assign(mean=pd.to_numeric(g["mean"], errors="coerce"))
        tot = g[g["entity"] == "total"].set_index("metric")["mean"]
        sp = g[(g["entity"] != "total") & (g["metric"] == "spend")].set_index("entity")["mean"]
        row = {"scenario_id": g["scenario_id"].iloc[0], "scenario": g["scenario"].iloc[0]}
        row.update({m: float(tot.get(m, np.nan)) for m in (*KPIS, "outcome_change")})
        row.update({f"spend {e}": float(v) for e, v in sp.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def save_scenario(
    engine: Engine,
    workspace: str,
    scenario: Mapping[str, Any],
    spec: Mapping[str, Any],
    author: str | None = None,
) -> dict[str, Any]:
    """Store a built scenario (and the request that made it); returns it with its ``id``."""
    body = {k: v for k, v in scenario.items() if k != "name"}
    sid = store.insert_scenario(
        engine,
        workspace,
        scenario["name"],
        scenario.get("curve_set", {}).get("id"),
        dict(spec),
        body,
        author,
    )
    return store.get_scenario_row(engine, sid)


def get_scenario(engine: Engine, scenario_id: int, workspace: str | None = None) -> dict:
    return store.get_scenario_row(engine, scenario_id, workspace)


def list_scenarios(engine: Engine, workspace: str) -> list[dict[str, Any]]:
    return store.list_scenario_rows(engine, workspace)


def delete_scenario(engine: Engine, workspace: str, scenario_id: int) -> None:
    store.delete_scenario_row(engine, workspace, scenario_id)
