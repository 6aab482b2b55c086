"""Compile rules to Ibis boolean expressions over a run's shared feature table.

Nothing in a rule becomes SQL text: values, labels and name patterns are Ibis literals (bound by
the backend's compiler), feature columns are generated names (``f3``, ``p0_f1``), never names
taken from the rule.
"""

from __future__ import annotations

import json
from datetime import date

import ibis
import ibis.expr.types as ir

from spendlab.automate.rules.features import FeatureKey, _cmp
from spendlab.automate.rules.spec import All, Any_, Condition, Node, Rule
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError

_REGEX_SPECIAL = set(".^$*+?{}[]\\|()")

#: Scope filters on key or attribute columns: filter name -> column.
SCOPE_COLUMNS = {
    "platform": "platform",
    "account": "account_id",
    "campaign": "campaign_id",
    "business_unit": "business_unit",
    "code": "code",
    "objective": "objective",
    "lifecycle_stage": "lifecycle_stage",
    "language": "language",
    "status": "status",
}


def glob_regex(pattern: str) -> str:
    """A case-insensitive, anchored RE2/Python regex for a glob (``*`` any text, ``?`` one
    character); every other character is matched literally."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "(?is)^" + "".join(out) + "$"


def label_needle(label: str) -> str:
    """How a label appears inside the stored JSON list (quoted)."""
    return json.dumps(label, ensure_ascii=False)


def feature_keys(rule: Rule, as_of: date) -> list[FeatureKey]:
    from spendlab.automate.rules.spec import iter_features

    return [FeatureKey.of(f, rule.scope.level, as_of) for f in iter_features(rule)]


def scope_filters(rule: Rule, columns: set[str]) -> list[tuple[str, tuple[str, ...]]]:
    """The rule's exact-match scope filters as (column, values); a filter on a column the level
    does not have is an error (shared by the Ibis and the vectorised evaluators)."""
    s = rule.scope
    out = []
    for name, col in SCOPE_COLUMNS.items():
        values = getattr(s, name)
        if not values:
            continue
        if col not in columns:
            raise ConfigError(
                f"rule {rule.id!r}: scope filter {name!r} does not apply at level "
                f"{s.level.value!r}; remove it or use a finer level"
            )
        out.append((col, tuple(str(v) for v in values)))
    return out


def scope_predicate(rule: Rule, t: ir.Table) -> ir.BooleanValue:
    s = rule.scope
    preds: list[ir.BooleanValue] = []
    cols = set(t.columns)
    for col, values in scope_filters(rule, cols):
        preds.append(t[col].isin(list(values)).fill_null(False))
    for name, negate in (("campaign_name", False), ("exclude_campaign_name", True)):
        pats = getattr(s, name)
        if not pats:
            continue
        if "campaign_name" not in cols:
            raise ConfigError(f"rule {rule.id!r}: {name} does not apply at level {s.level.value!r}")
        hit = ibis.or_(*[t.campaign_name.re_search(glob_regex(p)).fill_null(False) for p in pats])
        preds.append(~hit if negate else hit)
    if s.labels:
        if "labels" not in cols:
            raise ConfigError(f"rule {rule.id!r}: labels do not apply at level {s.level.value!r}")
        preds.append(
            ibis.or_(*[t.labels.contains(label_needle(lb)).fill_null(False) for lb in s.labels])
        )
    return ibis.and_(*preds) if preds else ibis.literal(True)


def node_predicate(
    node: Node, rule: Rule, as_of: date, t: ir.Table, columns: dict[FeatureKey, str]
) -> ir.BooleanValue:
    if isinstance(node, Condition):
        lhs = t[columns[FeatureKey.of(node.feature, rule.scope.level, as_of)]]
        if node.other is not None:
            rhs = t[columns[FeatureKey.of(node.other, rule.scope.level, as_of)]] * node.factor
        else:
            rhs = ibis.literal(float(node.value) * node.factor)  # type: ignore[arg-type]
        return _cmp(lhs, node.op, rhs).fill_null(False)
    kids = [node_predicate(k, rule, as_of, t, columns) for k in _children(node)]
    return ibis.and_(*kids) if isinstance(node, All) else ibis.or_(*kids)


def _children(node: All | Any_) -> list[Node]:
    return node.all if isinstance(node, All) else node.any


def rule_predicate(
    rule: Rule, as_of: date, t: ir.Table, columns: dict[FeatureKey, str]
) -> ir.BooleanValue:
    """The whole rule: scope AND minimum-data guard AND conditions."""
    parts = [scope_predicate(rule, t)]
    if rule.min_data is not None:
        parts.append(node_predicate(rule.min_data, rule, as_of, t, columns))
    parts.append(node_predicate(rule.conditions, rule, as_of, t, columns))
    if rule.action.type in ("bid", "budget", "pause", "pause_until", "enable", "label"):
        parts.append(t.status.notnull() & (t.status != "removed"))
    return ibis.and_(*parts)


def is_parent(level: Level, rule_level: Level) -> bool:
    return level != rule_level
