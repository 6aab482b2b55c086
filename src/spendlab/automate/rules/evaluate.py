"""Evaluate many rules at once: shared feature tables, one batched query per chunk of rules,
then proposed :class:`~spendlab.core.actions.Action` objects with matched values and reasons."""

from __future__ import annotations

import gc
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import ibis
import ibis.expr.types as ir

from spendlab.automate.rules.actions import Evaluation, make_action, make_actions, new_amount
from spendlab.automate.rules.compile import (
    SCOPE_COLUMNS,
    feature_keys,
    node_predicate,
    rule_predicate,
)
from spendlab.automate.rules.features import (
    CAMPAIGN_ATTRS,
    LEVEL_KEYS,
    FeatureKey,
    FeatureTable,
    Segment,
    build_feature_table,
    campaign_attributes,
    entity_state,
    left_join,
)
from spendlab.automate.rules.spec import Rule, iter_features
from spendlab.automate.rules.vector import VectorEvaluator
from spendlab.core.hierarchy import Level

CHUNK = 400  # rules per batched query


def _segment(rule: Rule) -> Segment:
    return (tuple(sorted(rule.scope.country)), tuple(sorted(rule.scope.device)))


def _parent_join_keys(parent: Level, child: Level) -> list[str]:
    if parent in (Level.BUSINESS_UNIT, Level.CODE):
        return [parent.value]
    return list(LEVEL_KEYS[parent])


def _needed_attributes(rules: list[Rule]) -> list[str]:
    """The campaign attributes the rules read: scope filters and name patterns, and the
    business unit / code that parent-level features join on (the others are not computed)."""
    need = set()
    for r in rules:
        s = r.scope
        need.update(col for name, col in SCOPE_COLUMNS.items() if getattr(s, name))
        if s.campaign_name or s.exclude_campaign_name:
            need.add("campaign_name")
        need.update(f.level.value for f in iter_features(r) if f.level in _ATTR_LEVELS)
    return [a for a in CAMPAIGN_ATTRS if a in need]


_ATTR_LEVELS = (Level.BUSINESS_UNIT, Level.CODE)


def build_run_tables(
    ap: ir.Table,
    ents: ir.Table | None,
    rules: list[Rule],
    as_of: date,
) -> dict[tuple[Level, Segment], tuple[ir.Table, dict[FeatureKey, str]]]:
    """For each (rule level, segment): the joined table (entities x own features x parent
    features x attributes x state) and the map feature key -> column."""
    groups: dict[tuple[Level, Segment], list[FeatureKey]] = defaultdict(list)
    group_rules: dict[tuple[Level, Segment], list[Rule]] = defaultdict(list)
    for r in rules:
        groups[(r.scope.level, _segment(r))].extend(feature_keys(r, as_of))
        group_rules[(r.scope.level, _segment(r))].append(r)
    out = {}
    for (level, seg), keys in groups.items():
        need = _needed_attributes(group_rules[(level, seg)])
        by_level: dict[Level, list[FeatureKey]] = defaultdict(list)
        for k in keys:
            by_level[k.level].append(k)
        own = build_feature_table(ap, level, by_level.pop(level, []), segment=seg, prefix="f")
        t = own.expr
        columns = dict(own.columns)
        if level in (Level.KEYWORD, Level.AD, Level.AD_GROUP, Level.CAMPAIGN) and need:
            attrs = campaign_attributes(ap, need)
            t = left_join(t, attrs, list(LEVEL_KEYS[Level.CAMPAIGN]), need)
        elif level is Level.CODE and "business_unit" in need:
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


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (actions hold no reference cycles; reference counting
    still frees everything) while many objects are built: its passes over a growing heap
    otherwise cost more than the building."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


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
    t0 = time.perf_counter()
    tables = build_run_tables(ap, ents, rules, as_of)
    ev.feature_tables = len(tables)
    ev.seconds["features"] += time.perf_counter() - t0
    by_group: dict[tuple[Level, Segment], list[Rule]] = defaultdict(list)
    for r in rules:
        by_group[(r.scope.level, _segment(r))].append(r)
    for gkey, grules in by_group.items():
        expr, columns = tables[gkey]
        if method == "vector":
            level = gkey[0]
            t0 = time.perf_counter()
            table = con.to_pyarrow(expr.order_by(list(LEVEL_KEYS[level])))
            t1 = time.perf_counter()
            vec = VectorEvaluator(table, columns, as_of)
            with _no_gc():  # ~100k actions of small objects: no cyclic GC passes over them
                for rule in grules:
                    pos = vec.rows(rule)
                    ev.matches += len(pos)
                    make_actions(ev, rule, vec, pos, run_id)
            ev.seconds["features"] += t1 - t0
            ev.seconds["rules"] += time.perf_counter() - t1
            continue
        expr = expr.mutate(_row=ibis.row_number())
        name = f"_rules_ft_{uuid.uuid4().hex[:10]}"
        con.create_table(name, expr, temp=True)
        try:
            mt = con.table(name)
            frame = mt.to_pandas().set_index("_row", drop=False)
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
                        make_action(ev, rule, rec, columns, run_id)
        finally:
            con.drop_table(name, force=True)
    t0 = time.perf_counter()
    with _no_gc():
        ev.actions.sort(key=lambda a: (a.rule_id or "", a.entity.key()))
    ev.seconds["rules"] += time.perf_counter() - t0
    return ev


__all__ = ["Evaluation", "evaluate", "build_run_tables", "node_predicate", "new_amount"]
