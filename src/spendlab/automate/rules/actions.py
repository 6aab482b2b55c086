"""Proposed actions from matched rows: the absolute old and new value, the matched feature
values and a plain-language reason ("cost last 7 days 512.40 > 1.5 x previous 7 days 300.10").

:func:`make_actions` builds all the actions of one rule at once from column arrays (the
vectorized path); :func:`make_action` builds one from a record (the Ibis path). Both give the
same actions (tests compare them)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

import numpy as np

from spendlab.automate.rules.features import ID_COLUMNS, LEVEL_KEYS, FeatureKey
from spendlab.automate.rules.spec import (
    All,
    Condition,
    Feature,
    Node,
    Rule,
    iter_conditions,
    iter_features,
)
from spendlab.automate.rules.vector import VectorEvaluator, compare
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level

CENT = Decimal("0.01")

_KIND = {
    "bid": ActionKind.SET_BID,
    "budget": ActionKind.SET_BUDGET,
    "pause": ActionKind.PAUSE,
    "pause_until": ActionKind.PAUSE,
    "enable": ActionKind.ENABLE,
    "label": ActionKind.LABEL,
    "alert": ActionKind.ALERT,
}


@dataclass
class Evaluation:
    """What a set of rules proposes for one date. ``skipped`` lists matches that produce no
    action (no change, no old value known), with why. ``seconds`` says where the time went:
    ``features`` (building the shared feature tables in the warehouse and reading them) and
    ``rules`` (matching the rules and building the actions)."""

    as_of: date
    actions: list[Action] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    matches: int = 0
    feature_tables: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"features": 0.0, "rules": 0.0})


def to_decimal(x: Any) -> Decimal | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return Decimal(str(x))


def fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.2f}" if abs(v) >= 1 or v == 0 else f"{v:.4g}"


# -- actions ---------------------------------------------------------------------------------
def entity_ref(level: Level, rec: dict[str, Any]) -> EntityRef:
    if level in (Level.BUSINESS_UNIT, Level.CODE):
        return EntityRef(platform="", level=level, account_id=str(rec[level.value]))
    ids = {c: str(rec.get(c) or "") for c in ID_COLUMNS if c in LEVEL_KEYS[level]}
    return EntityRef(platform=str(rec["platform"]), level=level, **ids)


def _value(rec: dict[str, Any], col: str) -> Any:
    v = rec.get(col)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


# Entries keep their feature and column map alive, so the ids in the keys cannot be reused.
_CACHE: dict[tuple[int, int, Level, date], tuple[object, object, str]] = {}


def _col(columns: dict[FeatureKey, str], f: Feature, level: Level, as_of: date) -> str:
    """columns[FeatureKey.of(f, level, as_of)], cached per (table, feature object)."""
    k = (id(columns), id(f), level, as_of)
    hit = _CACHE.get(k)
    if hit is None or hit[0] is not f or hit[1] is not columns:
        if len(_CACHE) > 200_000:
            _CACHE.clear()
        hit = _CACHE[k] = (f, columns, columns[FeatureKey.of(f, level, as_of)])
    return hit[2]


def condition_text(c: Condition, rule: Rule, as_of: date, rec: dict, columns: dict) -> str:
    lvl = rule.scope.level
    lhs = _value(rec, _col(columns, c.feature, lvl, as_of))
    left = f"{c.feature.describe(lvl)} {fmt(lhs)}"
    if c.other is not None:
        rhs = _value(rec, _col(columns, c.other, lvl, as_of))
        fac = f"{c.factor:g} x " if c.factor != 1 else ""
        return f"{left} {c.op} {fac}{c.other.describe(lvl)} {fmt(rhs)}"
    fac = f" ({c.factor:g} x {c.value:g})" if c.factor != 1 else ""
    return f"{left} {c.op} {fmt((c.value or 0) * c.factor)}{fac}"


def true_conditions(node: Node, rule: Rule, as_of: date, rec: dict, columns: dict) -> list[str]:
    """Texts of the leaf conditions that hold (the 'why' of a match)."""
    if isinstance(node, Condition):
        ok = _holds(node, rule, as_of, rec, columns)
        return [condition_text(node, rule, as_of, rec, columns)] if ok else []
    kids = node.all if isinstance(node, All) else node.any
    return [t for k in kids for t in true_conditions(k, rule, as_of, rec, columns)]


def _holds(c: Condition, rule: Rule, as_of: date, rec: dict, columns: dict) -> bool:
    lvl = rule.scope.level
    lhs = _value(rec, _col(columns, c.feature, lvl, as_of))
    if c.other is not None:
        rhs = _value(rec, _col(columns, c.other, lvl, as_of))
        rhs = None if rhs is None else rhs * c.factor
    else:
        rhs = (c.value or 0) * c.factor
    if lhs is None or rhs is None:
        return False
    return {
        ">": lhs > rhs,
        ">=": lhs >= rhs,
        "<": lhs < rhs,
        "<=": lhs <= rhs,
        "==": lhs == rhs,
        "!=": lhs != rhs,
    }[c.op]


def new_amount(rule: Rule, old: Decimal, kpi: float | None) -> Decimal | None:
    """The bounded new bid/budget for an old value (None: no change possible)."""
    a = rule.action
    v = Decimal(str(a.value))
    if a.mode == "percent":
        new = old * (1 + v / 100)
    elif a.mode == "absolute":
        new = old + v
    elif a.mode == "set":
        new = v
    else:
        if kpi is None or (isinstance(kpi, float) and math.isnan(kpi)):
            return None
        if a.mode == "target_cpa":
            new = Decimal(0) if math.isinf(kpi) else old * v / Decimal(str(kpi))
        else:
            new = old * Decimal(str(min(kpi, 1e12))) / v
    step = None
    if a.max_step_pct is not None:
        step = old * Decimal(str(a.max_step_pct)) / 100
    if a.max_step is not None:
        s2 = Decimal(str(a.max_step))
        step = s2 if step is None else min(step, s2)
    if step is not None:
        new = min(max(new, old - step), old + step)
    if a.min is not None:
        new = max(new, Decimal(str(a.min)))
    if a.max is not None:
        new = min(new, Decimal(str(a.max)))
    new = max(new, Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)
    return new


_FEATS: dict[tuple[int, int, date], tuple[Rule, object, list[tuple[str, str]]]] = {}


def _rule_features(
    rule: Rule, level: Level, as_of: date, columns: dict[FeatureKey, str]
) -> list[tuple[str, str]]:
    k = (id(rule), id(columns), as_of)
    hit = _FEATS.get(k)
    if hit is None or hit[0] is not rule or hit[1] is not columns:
        if len(_FEATS) > 50_000:
            _FEATS.clear()
        feats = [(f.describe(level), columns[FeatureKey.of(f, level, as_of)])
                 for f in iter_features(rule)]  # fmt: skip
        hit = _FEATS[k] = (rule, columns, feats)
    return hit[2]


def _target_feature(rule: Rule) -> Feature | None:
    a = rule.action
    if a.type in ("bid", "budget") and a.mode in ("target_cpa", "target_roas"):
        return Feature(kpi="cpa" if a.mode == "target_cpa" else "roas", window=a.window)
    return None


def make_action(
    ev: Evaluation, rule: Rule, rec: dict, columns: dict[FeatureKey, str], run_id: str | None
) -> None:
    """The action of ``rule`` for one matched record (a row of the feature table as a dict)."""
    level = rule.scope.level
    as_of = ev.as_of
    texts = true_conditions(rule.conditions, rule, as_of, rec, columns)
    feats = {desc: _value(rec, col) for desc, col in _rule_features(rule, level, as_of, columns)}
    target = _target_feature(rule)
    _append(
        ev,
        rule,
        entity_ref(level, rec),
        "; ".join(texts) if texts else "conditions met",
        feats,
        _value(rec, "status"),
        _value(rec, rule.action.type) if rule.action.type in ("bid", "budget") else None,
        None if target is None else _value(rec, _col(columns, target, level, as_of)),
        _value(rec, "labels"),
        run_id,
    )


def make_actions(
    ev: Evaluation, rule: Rule, vec: VectorEvaluator, pos: np.ndarray, run_id: str | None
) -> None:
    """The actions of ``rule`` for all its matched rows at once: ``vec`` is the
    :class:`~spendlab.automate.rules.vector.VectorEvaluator` of the feature table, ``pos`` the
    matched row positions. Column values are gathered as arrays for the matched rows only;
    reasons are formatted for those rows and the conditions that hold on them."""
    level = rule.scope.level
    as_of = ev.as_of
    n = len(pos)
    if n == 0:
        return
    ents = _entity_refs(level, vec, pos)
    reasons = _reasons(rule, vec, pos)
    feats_cols = _rule_features(rule, level, as_of, vec.columns)
    descs = [d for d, _ in feats_cols]
    vals = [_floats(vec.arr(c)[pos]) for _, c in feats_cols]
    feats = (
        [dict(zip(descs, row, strict=True)) for row in zip(*vals, strict=True)]
        if vals
        else [{} for _ in range(n)]
    )
    a = rule.action
    status = vec.obj("status")[pos].tolist()
    empty: list[Any] = [None] * n
    amounts = _floats(vec.arr(a.type)[pos]) if a.type in ("bid", "budget") else empty
    target = _target_feature(rule)
    kpis = empty if target is None else _floats(vec.values(target, level, pos))
    labels = vec.obj("labels")[pos].tolist() if a.type == "label" else empty
    for i in range(n):
        _append(
            ev,
            rule,
            ents[i],
            reasons[i],
            feats[i],
            status[i],
            amounts[i],
            kpis[i],
            labels[i],
            run_id,
        )


def _floats(x: np.ndarray) -> list[float | None]:
    """Python floats with NaN (NULL) as None."""
    return [None if v != v else v for v in x.tolist()]


def _entity_refs(level: Level, vec: VectorEvaluator, pos: np.ndarray) -> list[EntityRef]:
    """The entities of the rows ``pos`` (built once per row and shared by the rules that match
    it)."""
    cache = vec.entities
    todo = [p for p in pos.tolist() if p not in cache]
    if todo:
        at = np.asarray(todo)
        if level in (Level.BUSINESS_UNIT, Level.CODE):
            for p, v in zip(todo, vec.obj(level.value)[at].tolist(), strict=True):
                cache[p] = EntityRef(platform="", level=level, account_id=str(v))
        else:
            blank = [""] * len(todo)
            ids = [
                [str(v or "") for v in vec.obj(c)[at].tolist()] if c in LEVEL_KEYS[level] else blank
                for c in ID_COLUMNS
            ]
            plat = [str(v) for v in vec.obj("platform")[at].tolist()]
            for p, pl, *row in zip(todo, plat, *ids, strict=True):
                cache[p] = EntityRef(pl, level, *row)
    return [cache[p] for p in pos.tolist()]


def _reasons(rule: Rule, vec: VectorEvaluator, pos: np.ndarray) -> list[str]:
    """Per matched row: the texts of the leaf conditions that hold, as in
    :func:`true_conditions`."""
    level = rule.scope.level
    per_row: list[list[str]] = [[] for _ in range(len(pos))]
    for c in iter_conditions(rule.conditions):
        lhs = vec.values(c.feature, level, pos)
        left = c.feature.describe(level)
        if c.other is not None:
            raw = vec.values(c.other, level, pos)
            hold = compare(lhs, c.op, raw * c.factor)
            fac = f"{c.factor:g} x " if c.factor != 1 else ""
            right = f"{c.op} {fac}{c.other.describe(level)}"
            for i in np.flatnonzero(hold).tolist():
                per_row[i].append(f"{left} {fmt(float(lhs[i]))} {right} {fmt(float(raw[i]))}")
        else:
            hold = compare(lhs, c.op, np.float64(float(c.value) * c.factor))  # type: ignore[arg-type]
            fac = f" ({c.factor:g} x {c.value:g})" if c.factor != 1 else ""
            right = f"{c.op} {fmt((c.value or 0) * c.factor)}{fac}"
            for i in np.flatnonzero(hold).tolist():
                per_row[i].append(f"{left} {fmt(float(lhs[i]))} {right}")
    return ["; ".join(t) if t else "conditions met" for t in per_row]


def _skip(ev: Evaluation, rule: Rule, ent: EntityRef, why: str) -> None:
    ev.skipped.append({"rule_id": rule.id, "entity_id": ent.entity_id, "why": why})


def _append(
    ev: Evaluation,
    rule: Rule,
    ent: EntityRef,
    reason: str,
    feats: dict[str, Any],
    status: Any,
    amount: Any,
    kpi: Any,
    raw_labels: Any,
    run_id: str | None,
) -> None:
    """Append the action for one matched entity to ``ev`` (or a ``skipped`` entry saying why
    it does nothing): ``amount`` is the current bid/budget, ``kpi`` the target-mode KPI."""
    a = rule.action
    as_of = ev.as_of
    old: Any = None
    new: Any = None
    until = None
    skip = partial(_skip, ev, rule, ent)
    if a.type in ("bid", "budget"):
        old = to_decimal(amount)
        if old is None:
            return skip(f"no current {a.type} for this entity in `entities`")
        new = new_amount(rule, old, kpi)
        if new is None:
            return skip(f"{a.mode} KPI undefined")
        if new == old:
            return skip("no change")
    elif a.type in ("pause", "pause_until"):
        old, new = status, "paused"
        if status != "enabled":
            return skip(f"status is {status}")
        if a.type == "pause_until":
            until = as_of + timedelta(days=a.days or 1)
    elif a.type == "enable":
        old, new = status, "enabled"
        if status != "paused":
            return skip(f"status is {status}")
    elif a.type == "label":
        labels = json.loads(raw_labels) if raw_labels else []
        if a.label in labels:
            return skip("label already set")
        old = json.dumps(labels, ensure_ascii=False)
        new = json.dumps([*labels, a.label], ensure_ascii=False)
    elif a.message:
        reason = f"{a.message}: {reason}"
    ev.actions.append(
        Action(
            entity=ent,
            kind=_KIND[a.type],
            old_value=old,
            new_value=new,
            reason=reason,
            as_of=as_of,
            rule_id=rule.id,
            rule_version=rule.version,
            run_id=run_id,
            priority=rule.priority,
            until=until,
            features=feats,
        )
    )
