"""Curve sets: the ONE way planning gets response curves.

A curve set is a named set of per-channel (or per-campaign) response curves in the planner's
parameterization (see :mod:`spendlab.plan.curves`), optionally with posterior draws, saved in the
store per workspace. The newest saved (or most recently activated) set is the workspace's active
one; scenarios, the frontier, the recommendations and the Plan page use it.

- ``period``: ``"day"`` or ``"week"``, the spend unit the curves take (spend per period in,
  response per period out).
- ``source``: ``"mmm"`` (a fitted marketing-mix model), ``"manual"`` (hand-entered) or
  ``"simulator"`` (the simulator's true curves, for the demo).
- ``meta``: free JSON. Two keys have a meaning: ``members`` ``{entity id: [campaign_id, ...]}``
  tells which warehouse campaigns make up an entity (current spend is read from them; without it
  an entity id is matched against ``campaign_id``), and ``kpi`` (``"revenue"`` or
  ``"conversions"``) names what the curves predict.

The MMM hands over its curves with one call (``ws`` a :class:`spendlab.workspace.Workspace`: the
rows live in its store, keyed by its stable id)::

    save_curve_set(ws.store.engine, ws.id, "mmm 2026-12-05", model.response_curve_params(),
                   period="week", source="mmm", meta={"run_id": run_id, "kpi": "revenue"})

The planning use cases on a workspace (plan context, scenarios, recommendations) are in
:mod:`spendlab.plan.service`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from spendlab.data.metrics import exact_sum
from spendlab.data.spend import count_once
from spendlab.errors import ConfigError, DataError
from spendlab.plan import store
from spendlab.plan.curves import FAMILIES, ResponseCurves, curves_from_frame

PERIODS = {"day": 1, "week": 7}
SOURCES = ("mmm", "manual", "simulator")
ID_COLUMNS = ("id", "channel", "campaign_id")
PARAMS = sorted({p for ps in FAMILIES.values() for p in ps})


@dataclass
class CurveSet:
    """A stored curve set. ``frame``: one row per (entity, draw): ``id``, ``type``, ``beta`` and
    the family's parameters, optional ``draw`` and ``current`` (a fallback current spend per
    period used when the warehouse has none for the entity)."""

    id: int
    name: str
    period: str
    source: str
    frame: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    active: bool = False
    created_at: str = ""

    @property
    def period_days(self) -> int:
        return PERIODS[self.period]

    @property
    def ids(self) -> list[str]:
        return list(dict.fromkeys(self.frame["id"].astype(str)))

    def curves(self) -> ResponseCurves:
        return curves_from_frame(self.frame, id_column="id")

    def members(self) -> dict[str, list[str]]:
        """Warehouse campaign ids behind each entity (the entity id itself by default)."""
        given = self.meta.get("members") or {}
        return {i: [str(c) for c in given.get(i, [i])] for i in self.ids}

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "period": self.period,
            "source": self.source,
            "entities": self.ids,
            "draws": self.curves().draws,
            "meta": {k: v for k, v in self.meta.items() if k != "members"},
            "active": self.active,
            "created_at": self.created_at,
        }


def normalize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The stored shape of a curve frame: ``id`` column, lower-case ``type``, only the columns a
    curve set keeps. Checks the curves parse (bad input fails here, not at planning time)."""
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise DataError("a curve set needs a non-empty curve frame (one row per entity/draw)")
    idc = next((c for c in ID_COLUMNS if c in frame.columns), None)
    if idc is None:
        raise DataError(
            f"curve frame needs an entity column ({' or '.join(ID_COLUMNS)}); "
            f"got {list(frame.columns)}"
        )
    df = frame.rename(columns={idc: "id"}).copy()
    df["id"] = df["id"].astype(str)
    if "type" in df.columns:
        df["type"] = df["type"].astype(str).str.lower()
    keep = ["id", "type", *[p for p in PARAMS if p in df.columns]]
    keep += [c for c in ("draw", "current") if c in df.columns]
    df = df[[c for c in keep if c in df.columns]].reset_index(drop=True)
    curves_from_frame(df, id_column="id")  # validates types, parameters and draws
    if "current" in df.columns:
        cur = pd.to_numeric(df["current"], errors="coerce")
        if (cur < 0).any():
            raise DataError("curve frame column 'current' must be >= 0 (spend per period)")
    return df


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append(
            {
                k: (None if isinstance(v, float) and math.isnan(v) else _plain(v))
                for k, v in rec.items()
            }
        )
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _from_row(row: dict[str, Any]) -> CurveSet:
    frame = pd.DataFrame.from_records(row["curves"])
    for p in PARAMS:
        if p in frame.columns:
            frame[p] = pd.to_numeric(frame[p], errors="coerce")
    return CurveSet(
        id=row["id"],
        name=row["name"],
        period=row["period"],
        source=row["source"],
        frame=frame,
        meta=row["meta"],
        active=row["active"],
        created_at=row["created_at"],
    )


def save_curve_set(
    engine: Engine,
    workspace: str,
    name: str,
    frame: pd.DataFrame,
    period: str = "day",
    source: str = "manual",
    meta: Mapping[str, Any] | None = None,
    *,
    activate: bool = True,
) -> CurveSet:
    """Store a curve set for ``workspace`` (the workspace's id, ``ws.id``; ``engine`` its store's,
    ``ws.store.engine``) and make it the active one (``activate=False``: store it only, the
    active set stays). ``frame`` is the tidy curve frame (the MMM's
    ``response_curve_params()``: ``channel``, optional ``draw``, ``type``, ``beta``, ``half``,
    ``s``, ``lam``, ``scale``)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ConfigError("a curve set needs a name of 1-200 characters")
    if period not in PERIODS:
        raise ConfigError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    if source not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    df = normalize_frame(frame)
    meta = dict(meta or {})
    members = meta.get("members")
    if members is not None:
        if not isinstance(members, Mapping):
            raise ConfigError("meta['members'] must map entity id -> list of campaign ids")
        unknown = set(map(str, members)) - set(df["id"])
        if unknown:
            raise ConfigError(f"meta['members'] names unknown entities {sorted(unknown)[:5]}")
        meta["members"] = {str(k): [str(c) for c in v] for k, v in members.items()}
    curves = curves_from_frame(df, id_column="id")
    row = store.insert_curve_set(
        engine,
        workspace,
        {
            "name": name,
            "period": period,
            "source": source,
            "n_entities": curves.n,
            "draws": curves.draws,
            "curves": _records(df),
            "meta": meta,
        },
        activate=activate,
    )
    return _from_row(row)


def load_curve_set(engine: Engine, workspace: str, ref: int | str | None = None) -> CurveSet:
    """A curve set by id or name, or the workspace's active one (``ref=None``)."""
    return _from_row(store.get_curve_set_row(engine, workspace, ref))


def list_curve_sets(engine: Engine, workspace: str) -> list[dict[str, Any]]:
    """The workspace's curve sets, newest first: id, name, period, source, n_entities, draws,
    meta, created_at, active."""
    return store.list_curve_set_rows(engine, workspace)


def activate_curve_set(
    engine: Engine, workspace: str, ref: int | str, *, force: bool = False, user: str = ""
) -> CurveSet:
    """Make a stored curve set the active one. An MMM set whose fit failed its gate
    (``meta['gate']['passed']`` false, :mod:`spendlab.measure.mmm.gate`) is refused unless
    ``force``; a forced activation is recorded in its meta (``activation``: forced, by, at)."""
    row = store.get_curve_set_row(engine, workspace, ref)
    gate = row["meta"].get("gate") or {}
    failed = gate.get("passed") is False
    if failed and not force:
        raise ConfigError(
            f"curve set {row['id']} ({row['name']}) failed its model gate: "
            f"{'; '.join(gate.get('failed') or []) or 'see the run'}; it is not activated. Refit "
            "(see `spendlab mmm show RUN`), or force it with `spendlab plan curves activate "
            f"{row['id']} --force` (recorded)"
        )
    update = None
    if failed:
        update = {"activation": {"forced": True, "by": user, "at": store.now().isoformat()}}
    return _from_row(store.activate_curve_set(engine, workspace, row["id"], update))


# --- current spend from the warehouse -------------------------------------------------------------
def current_spend(wh: Any, cs: CurveSet, days: int = 28) -> pd.DataFrame:
    """Current spend per entity and period: the average over the last ``days`` days of
    ``ad_performance`` (ending at its newest date), summed over the entity's member campaigns,
    times the period length. Spend reported at several levels counts once per day
    (:func:`spendlab.data.spend.count_once`). Entities without warehouse spend fall back to the
    frame's ``current``.

    Returns ``id``, ``current``, ``source`` (``warehouse`` | ``curve set`` | ``none``) and the
    window in ``attrs['window']``.
    """
    if days < 1:
        raise ConfigError(f"days must be >= 1, got {days}")
    ids = cs.ids
    members = cs.members()
    per_campaign: dict[str, float] = {}
    window: tuple[str, str] | None = None
    ap = wh.table("ad_performance")
    span = ap.aggregate(lo=ap.date.min(), hi=ap.date.max()).to_pandas().iloc[0]
    if not pd.isna(span["hi"]):
        last = pd.Timestamp(span["hi"]).date()
        start = max(last - dt.timedelta(days=days - 1), pd.Timestamp(span["lo"]).date())
        t = ap.filter((ap.date >= start) & (ap.date <= last) & (ap.campaign_id != ""))
        t = t.filter(t.campaign_id.isin(sorted({c for m in members.values() for c in m})))
        t = count_once(t, "campaign")
        pc = t.group_by("campaign_id").aggregate(spend=exact_sum(t.spend)).to_pandas()
        scale = cs.period_days / ((last - start).days + 1)
        per_campaign = {
            str(k): float(v) * scale for k, v in zip(pc["campaign_id"], pc["spend"], strict=True)
        }
        window = (start.isoformat(), last.isoformat())
    fallback = {}
    if "current" in cs.frame.columns:
        fb = cs.frame.groupby("id", sort=False)["current"].first()
        fallback = {str(k): float(v) for k, v in fb.items() if pd.notna(v)}
    rows = []
    for i in ids:
        found = [per_campaign[c] for c in members[i] if c in per_campaign]
        if found:
            rows.append({"id": i, "current": float(sum(found)), "source": "warehouse"})
        elif i in fallback:
            rows.append({"id": i, "current": fallback[i], "source": "curve set"})
        else:
            rows.append({"id": i, "current": 0.0, "source": "none"})
    out = pd.DataFrame(rows, columns=["id", "current", "source"])
    out.attrs["window"] = window
    return out


def observed_spend(
    wh: Any, cs: CurveSet, days: int = 91, quantiles: tuple[float, float] = (0.05, 0.95)
) -> pd.DataFrame:
    """The spend range each entity actually ran at: its daily spend (summed over its member
    campaigns, counted once per day like :func:`current_spend`; days without delivery count as
    0) over the last ``days`` days of ``ad_performance``, times the period length. Returns
    ``id``, ``q_lo``/``q_hi`` (the ``quantiles``), ``min``, ``max`` and ``days`` (days in the
    window with spend); entities without warehouse spend get NaN and 0 days. The trust region
    of a recommendation (:mod:`spendlab.plan.constraints`) is built from it."""
    if days < 1:
        raise ConfigError(f"days must be >= 1, got {days}")
    ids, members = cs.ids, cs.members()
    cols = ["id", "q_lo", "q_hi", "min", "max", "days"]
    none = {"q_lo": np.nan, "q_hi": np.nan, "min": np.nan, "max": np.nan, "days": 0}
    empty = pd.DataFrame([{"id": i, **none} for i in ids], columns=cols)
    ap = wh.table("ad_performance")
    span = ap.aggregate(lo=ap.date.min(), hi=ap.date.max()).to_pandas().iloc[0]
    if pd.isna(span["hi"]):
        return empty
    last = pd.Timestamp(span["hi"]).date()
    start = max(last - dt.timedelta(days=days - 1), pd.Timestamp(span["lo"]).date())
    owner = {c: i for i, m in members.items() for c in m}
    t = ap.filter((ap.date >= start) & (ap.date <= last) & (ap.campaign_id != ""))
    t = count_once(t.filter(t.campaign_id.isin(sorted(owner))), "campaign")
    daily = t.group_by(["date", "campaign_id"]).aggregate(spend=exact_sum(t.spend))
    daily = daily.to_pandas()
    if daily.empty:
        return empty
    daily["id"] = daily["campaign_id"].astype(str).map(owner)
    daily["date"] = pd.to_datetime(daily["date"])
    per = daily.groupby(["id", "date"])["spend"].sum().unstack("id")
    per = per.reindex(pd.date_range(start, last, freq="D")).fillna(0.0) * cs.period_days
    rows = []
    for i in ids:
        if i not in per.columns or not (per[i] > 0).any():
            rows.append({"id": i, **none})
            continue
        v = per[i].to_numpy(dtype=float)
        q = np.quantile(v, quantiles)
        rows.append(
            {
                "id": i,
                "q_lo": float(q[0]),
                "q_hi": float(q[1]),
                "min": float(v.min()),
                "max": float(v.max()),
                "days": int((v > 0).sum()),
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    out.attrs["window"] = (start.isoformat(), last.isoformat())
    return out


# --- the simulator's true curves (truth.json, plain JSON: plan never imports the simulator) ------
def truth_frames(truth: Mapping[str, Any]) -> dict[str, tuple[pd.DataFrame, dict[str, Any]]]:
    """Curve frames from a simulator ``truth.json`` dict: ``"campaigns"`` (exact per-campaign
    steady-state curves) and ``"channels"`` (one Hill curve per media channel, fitted to the sum
    of its campaigns' true curves when the channel's spend is scaled in proportion to the
    campaigns' mean daily spend; ``meta['fit_max_error']`` is the largest error of that fit
    relative to the channel's response at twice its current spend). Daily curves."""
    camps = truth.get("campaigns") or {}
    if not camps:
        raise DataError("truth.json has no campaigns: is it a SpendLab simulator truth file?")
    rows = []
    for cid, c in camps.items():
        sat = c["saturation"]
        kind = str(sat["type"])
        if kind == "hill":
            p = {"half": float(sat["K"]), "s": float(sat["S"])}
        elif kind == "logistic":
            p = {"lam": float(sat["lam"])}
        else:
            raise DataError(f"truth.json campaign {cid!r}: unknown saturation {kind!r}")
        rows.append(
            {
                "id": str(cid),
                "type": kind,
                "beta": float(c["beta"]),
                **p,
                "current": float(c.get("mean_daily_spend") or 0.0),
                "channel": str(c["channel"]),
            }
        )
    cf = pd.DataFrame(rows)
    camp_curves = curves_from_frame(cf, id_column="id")
    channel_rows, fit_err, members = [], {}, {}
    for ch, g in cf.groupby("channel", sort=False):
        sub = camp_curves.subset(list(g["id"]))
        cur = g["current"].to_numpy(dtype=float)
        total = float(cur.sum())
        w = cur / total if total > 0 else np.full(len(cur), 1.0 / len(cur))
        scale_ref = total if total > 0 else 1.0
        beta, half, s, err = _fit_hill(lambda x, sub=sub, w=w: sub.response(x * w).sum(), scale_ref)
        channel_rows.append(
            {"id": str(ch), "type": "hill", "beta": beta, "half": half, "s": s, "current": total}
        )
        fit_err[str(ch)] = err
        members[str(ch)] = list(g["id"])
    channels = pd.DataFrame(channel_rows)
    base = {"kpi": "revenue", "seed": truth.get("seed"), "currency": truth.get("currency")}
    return {
        "campaigns": (
            cf.drop(columns=["channel"]),
            {
                **base,
                "level": "campaign",
                "channel_of": dict(zip(cf["id"], cf["channel"], strict=True)),
            },
        ),
        "channels": (
            channels,
            {**base, "level": "channel", "members": members, "fit_max_error": fit_err},
        ),
    }


def _fit_hill(g: Any, ref: float) -> tuple[float, float, float, float]:
    """Least-squares Hill fit of a scalar curve ``g`` on spend in [0, 2.5 ref]."""
    from scipy.optimize import least_squares

    xs = np.linspace(0.0, 2.5 * ref, 120)
    ys = np.array([g(x) for x in xs])
    top = float(g(50 * ref))
    if top <= 0:
        return 0.0, ref, 1.0, 0.0
    half0 = float(np.interp(top / 2, ys, xs)) if ys[-1] >= top / 2 else 2.5 * ref

    def model(p: np.ndarray) -> np.ndarray:
        b, h, s = np.exp(p)
        t = (xs / h) ** s
        return b * t / (1 + t)

    fit = least_squares(
        lambda p: (model(p) - ys) / top, np.log([top, max(half0, 1e-6 * ref), 1.0]), method="lm"
    )
    b, h, s = (float(v) for v in np.exp(fit.x))
    err = float(np.max(np.abs(model(fit.x) - ys)) / max(ys.max(), 1e-12))
    return b, h, s, err


def save_mmm_curves(
    engine: Engine,
    workspace: str,
    run_id: str,
    model: Any,
    frequency: str,
    members: Mapping[str, Sequence[str]] | None = None,
    max_draws: int = 200,
    *,
    gate: Mapping[str, Any] | None = None,
    activate: bool = True,
    forced_by: str | None = None,
) -> CurveSet:
    """Publish a fitted MMM's response curves (``model.response_curve_params()``, thinned to at
    most ``max_draws`` posterior draws so the optimizer stays fast) as curve set "MMM run <id>":
    the one way planning consumes fitted curves. ``frequency`` is the model's period (``daily``
    / ``weekly``); ``members`` maps each channel to its campaign ids (for the current spend read
    from the warehouse). ``gate`` (``GateResult.to_dict()``) is kept in the meta as ``gate``
    ``{passed, failed}``; ``activate=False`` stores the set without activating it;
    ``forced_by`` (a user, ``""`` for anonymous) records a forced activation of a gate-failing
    fit in ``meta['activation']``."""
    frame = model.response_curve_params()
    draws = np.unique(frame["draw"].to_numpy()) if "draw" in frame.columns else np.array([])
    if draws.size > max_draws:
        keep = draws[np.linspace(0, draws.size - 1, max_draws).round().astype(int)]
        frame = frame[frame["draw"].isin(keep)]
        frame = frame.assign(draw=frame["draw"].map({d: i for i, d in enumerate(keep)}))
    channels = set(frame["channel"].astype(str))
    meta: dict[str, Any] = {"run_id": run_id, "draws": int(min(draws.size, max_draws))}
    if members:
        meta["members"] = {k: list(v) for k, v in members.items() if k in channels}
    if gate is not None:
        meta["gate"] = {"passed": bool(gate["passed"]), "failed": list(gate.get("failed") or [])}
    if forced_by is not None and activate:
        meta["activation"] = {"forced": True, "by": forced_by, "at": store.now().isoformat()}
    period = "week" if frequency.startswith("week") else "day"
    return save_curve_set(
        engine, workspace, f"MMM run {run_id}", frame, period, "mmm", meta, activate=activate
    )
