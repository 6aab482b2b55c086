"""Evaluate many rules at once: shared feature tables, one batched query per chunk of rules,
then proposed :class:`~spendlab.core.actions.Action` objects with matched values and reasons."""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import ibis
import ibis.expr.types as ir

from spendlab.automate.rules.compile import feature_keys, node_predicate, rule_predicate
from spendlab.automate.rules.features import (
    CAMPAIGN_ATTRS,
    ID_COLUMNS,
    LEVEL_KEYS,
    FeatureKey,
    FeatureTable,
    Segment,
    build_feature_table,
    campaign_attributes,
    entity_state,
    left_join,
)
from spendlab.automate.rules.spec import (
    All,
    Condition,
    Feature,
    Node,
    Rule,
    iter_features,
)
from spendlab.automate.rules.vector import VectorEvaluator
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level

CENT = Decimal("0.01")
CHUNK = 400  # rules per batched query

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
    action (no change, no old value known), with why."""

    as_of: date
    actions: list[Action] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    matches: int = 0
    feature_tables: int = 0


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


def _segment(rule: Rule) -> Segment:
    return (tuple(sorted(rule.scope.country)), tuple(sorted(rule.scope.device)))


def _parent_join_keys(parent: Level, child: Level) -> list[str]:
    if parent in (Level.BUSINESS_UNIT, Level.CODE):
        return [parent.value]
    return list(LEVEL_KEYS[parent])


def build_run_tables(
    ap: ir.Table,
    ents: ir.Table | None,
    rules: list[Rule],
    as_of: date,
) -> dict[tuple[Level, Segment], tuple[ir.Table, dict[FeatureKey, str]]]:
    """For each (rule level, segment): the joined table (entities x own features x parent
    features x attributes x state) and the map feature key -> column."""
    groups: dict[tuple[Level, Segment], list[FeatureKey]] = defaultdict(list)
    for r in rules:
        groups[(r.scope.level, _segment(r))].extend(feature_keys(r, as_of))
    out = {}
    attrs = None
    for (level, seg), keys in groups.items():
        by_level: dict[Level, list[FeatureKey]] = defaultdict(list)
        for k in keys:
            by_level[k.level].append(k)
        own = build_feature_table(ap, level, by_level.pop(level, []), segment=seg, prefix="f")
        t = own.expr
        columns = dict(own.columns)
        if level in (Level.KEYWORD, Level.AD, Level.AD_GROUP, Level.CAMPAIGN):
            attrs = campaign_attributes(ap) if attrs is None else attrs
            t = left_join(t, attrs, list(LEVEL_KEYS[Level.CAMPAIGN]), list(CAMPAIGN_ATTRS))
        elif level is Level.CODE:
            a = ap.filter(ap.code.notnull())
            bu = a.group_by("code").aggregate(business_unit=a.business_unit.max())
            t = left_join(t, bu, ["code"], ["business_unit"])
        for j, (plevel, pkeys) in enumerate(sorted(by_level.items())):
            pt: FeatureTable = build_feature_table(ap, plevel, pkeys, segment=seg, prefix=f"p{j}_")
            t = left_join(t, pt.expr, _parent_join_keys(plevel, level), list(pt.columns.values()))
            columns.update(pt.columns)
        state = entity_state(ents, level) if ents is not None else None
        if state is not None:
            t = left_join(t, state, list(LEVEL_KEYS[level]), ["status", "bid", "budget", "labels"])
        else:
            t = t.mutate(
                status=ibis.null().cast("string"),
                bid=ibis.null().cast("float64"),
                budget=ibis.null().cast("float64"),
                labels=ibis.null().cast("string"),
            )
        out[(level, seg)] = (t, columns)
    return out


def evaluate(
    con: ibis.BaseBackend,
    ap: ir.Table,
    ents: ir.Table | None,
    rules: list[Rule],
    as_of: date,
    *,
    run_id: str | None = None,
    method: str = "vector",
) -> Evaluation:
    """Evaluate ``rules`` as of ``as_of`` (the run date; windows end the day before by default)
    against ``ap`` (``ad_performance``) and ``ents`` (``entities``). Returns proposed actions.

    ``method="vector"`` (default) evaluates rules as array comparisons over the materialized
    feature table (fast for thousands of rules); ``method="ibis"`` compiles each rule to an Ibis
    predicate run in the warehouse (one batched query per chunk of rules). Same results."""
    ev = Evaluation(as_of=as_of)
    rules = list(rules)
    if not rules:
        return ev
    tables = build_run_tables(ap, ents, rules, as_of)
    ev.feature_tables = len(tables)
    by_group: dict[tuple[Level, Segment], list[Rule]] = defaultdict(list)
    for r in rules:
        by_group[(r.scope.level, _segment(r))].append(r)
    for gkey, grules in by_group.items():
        expr, columns = tables[gkey]
        expr = expr.mutate(_row=ibis.row_number())
        name = f"_rules_ft_{uuid.uuid4().hex[:10]}"
        con.create_table(name, expr, temp=True)
        try:
            mt = con.table(name)
            frame = mt.to_pandas().sort_values("_row").reset_index(drop=True)
            if method == "vector":
                vec = VectorEvaluator(frame, columns, as_of)
                cols = list(frame.columns)
                data = [frame[c].to_numpy(dtype=object) for c in cols]
                recs: dict[int, dict[str, Any]] = {}
                for rule in grules:
                    pos = vec.rows(rule)
                    ev.matches += len(pos)
                    for p in pos.tolist():
                        if p not in recs:
                            recs[p] = {c: d[p] for c, d in zip(cols, data, strict=True)}
                        _make_action(ev, rule, recs[p], columns, run_id)
                continue
            frame = frame.set_index("_row", drop=False)
            for start in range(0, len(grules), CHUNK):
                chunk = grules[start : start + CHUNK]
                parts = [
                    mt.filter(rule_predicate(r, as_of, mt, columns)).select(
                        "_row", _rule=ibis.literal(i, type="int64")
                    )
                    for i, r in enumerate(chunk)
                ]
                q = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
                hits = q.to_pandas()
                ev.matches += len(hits)
                for i, rows in hits.groupby("_rule", sort=True)["_row"]:
                    rule = chunk[int(i)]
                    sub = frame.loc[sorted(rows.tolist())]
                    for rec in sub.to_dict("records"):
                        _make_action(ev, rule, rec, columns, run_id)
        finally:
            con.drop_table(name, force=True)
    ev.actions.sort(key=lambda a: (a.rule_id or "", a.entity.key()))
    return ev


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


def _make_action(
    ev: Evaluation, rule: Rule, rec: dict, columns: dict[FeatureKey, str], run_id: str | None
) -> None:
    level = rule.scope.level
    ent = entity_ref(level, rec)
    as_of = ev.as_of
    texts = true_conditions(rule.conditions, rule, as_of, rec, columns)
    reason = "; ".join(texts) if texts else "conditions met"
    feats = {desc: _value(rec, col) for desc, col in _rule_features(rule, level, as_of, columns)}
    a = rule.action
    kind = _KIND[a.type]
    status = _value(rec, "status")
    old: Any = None
    new: Any = None
    until = None

    def skip(why: str) -> None:
        ev.skipped.append({"rule_id": rule.id, "entity_id": ent.entity_id, "why": why})

    if a.type in ("bid", "budget"):
        old = to_decimal(_value(rec, a.type))
        if old is None:
            return skip(f"no current {a.type} for this entity in `entities`")
        kpi = None
        if a.mode in ("target_cpa", "target_roas"):
            f = Feature(kpi="cpa" if a.mode == "target_cpa" else "roas", window=a.window)
            kpi = _value(rec, _col(columns, f, level, as_of))
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
        raw = _value(rec, "labels")
        labels = json.loads(raw) if raw else []
        if a.label in labels:
            return skip("label already set")
        old = json.dumps(labels, ensure_ascii=False)
        new = json.dumps([*labels, a.label], ensure_ascii=False)
    else:
        if a.message:
            reason = f"{a.message}: {reason}"
    ev.actions.append(
        Action(
            entity=ent,
            kind=kind,
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


__all__ = ["Evaluation", "evaluate", "build_run_tables", "node_predicate", "new_amount"]
