"""Vectorized evaluation of many rules over a materialized feature table (rules as data).

Compiling one Ibis expression per rule costs milliseconds of Python per rule; for thousands of
rules the shared feature table (built by one Ibis aggregation) is read once as Arrow columns
and each rule's scope and conditions become array operations. Same semantics as
:func:`spendlab.automate.rules.compile.rule_predicate` (tests check both against the reference):
NULL (NaN) never satisfies a comparison.

A rule touches only the rows in its scope: every exact-match scope column (campaign, account,
platform, ...) is dictionary-encoded once and indexed CSR-style (row positions sorted by code,
with offsets per code), so a campaign-scoped rule over 300,000 keywords reads its campaign's
~100 rows, not the whole table. The most selective filter picks the candidate rows, the other
filters, name patterns, labels and status are checked on those rows only (by lookup tables over
each column's distinct values), and the conditions run over the candidates.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spendlab.automate.rules.compile import glob_regex, label_needle, scope_filters
from spendlab.automate.rules.features import FeatureKey
from spendlab.automate.rules.spec import All, Condition, Feature, Node, Rule
from spendlab.core.actions import EntityRef
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError

_OPS = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def compare(lhs: np.ndarray, op: str, rhs: np.ndarray | np.float64) -> np.ndarray:
    """``lhs op rhs`` elementwise; NaN (NULL) on either side is never a match."""
    with np.errstate(invalid="ignore"):
        out = _OPS[op](lhs, rhs)
    if op == "!=":
        out &= ~np.isnan(lhs) & ~np.isnan(rhs)
    return out


class _Codes:
    """One column dictionary-encoded: ``codes`` per row (``-1`` = NULL), the distinct values,
    and a CSR index (``order`` = row positions grouped by code, ``offsets`` per code)."""

    def __init__(self, col: pa.ChunkedArray):
        enc = col.combine_chunks().dictionary_encode()
        self.values = enc.dictionary.to_pylist()
        idx = pc.fill_null(enc.indices, -1)
        self.codes = np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)
        self.lookup = {str(v): i for i, v in enumerate(self.values)}
        self._order: np.ndarray | None = None
        self._offsets: np.ndarray | None = None

    def lut(self, wanted: list[int]) -> np.ndarray:
        """Boolean per code, plus a trailing False that code -1 (NULL) indexes."""
        out = np.zeros(len(self.values) + 1, bool)
        out[wanted] = True
        return out

    def index(self) -> tuple[np.ndarray, np.ndarray]:
        if self._order is None:
            self._order = np.argsort(self.codes, kind="stable")
            counts = np.bincount(self.codes + 1, minlength=len(self.values) + 1)
            self._offsets = np.concatenate([[0], np.cumsum(counts)])
        assert self._offsets is not None
        return self._order, self._offsets

    def count(self, wanted: list[int]) -> int:
        _, off = self.index()
        return int(sum(off[c + 2] - off[c + 1] for c in wanted))

    def rows(self, wanted: list[int]) -> np.ndarray:
        """Sorted positions of the rows holding any of the ``wanted`` codes."""
        order, off = self.index()
        parts = [order[off[c + 1] : off[c + 2]] for c in wanted]
        if len(parts) == 1:
            return parts[0]  # already ascending (stable sort)
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


class VectorEvaluator:
    """Matches of rules over one feature table, with per-column, per-scope and per-feature
    caches."""

    def __init__(self, table: pa.Table, columns: dict[FeatureKey, str], as_of: date):
        self.table = table
        self.columns = columns
        self.as_of = as_of
        self.n = table.num_rows
        self.names = set(table.column_names)
        self._arr: dict[str, np.ndarray] = {}
        self._obj: dict[str, np.ndarray] = {}
        self._codes: dict[str, _Codes] = {}
        self._scope: dict[str, np.ndarray] = {}
        self._pattern: dict[tuple[str, str, str], np.ndarray] = {}
        self._fcol: dict[tuple[int, Level], tuple[Feature, str]] = {}
        self._active: np.ndarray | None = None
        self.entities: dict[int, EntityRef] = {}  # row -> its entity, built once (actions.py)

    # -- columns ---------------------------------------------------------------------------
    def arr(self, col: str) -> np.ndarray:
        """A numeric column as float64 (NULL = NaN)."""
        if col not in self._arr:
            c = self.table.column(col)
            if not pa.types.is_floating(c.type):
                c = pc.cast(c, pa.float64())
            self._arr[col] = np.asarray(c.to_numpy(), dtype=np.float64)
        return self._arr[col]

    def obj(self, col: str) -> np.ndarray:
        """A column as Python objects (NULL = None)."""
        if col not in self._obj:
            self._obj[col] = np.asarray(
                self.table.column(col).to_numpy(zero_copy_only=False), dtype=object
            )
        return self._obj[col]

    def codes(self, col: str) -> _Codes:
        if col not in self._codes:
            self._codes[col] = _Codes(self.table.column(col))
        return self._codes[col]

    def feature_col(self, f: Feature, level: Level) -> str:
        """columns[FeatureKey.of(f, level, as_of)], cached per feature object."""
        k = (id(f), level)
        hit = self._fcol.get(k)
        if hit is None or hit[0] is not f:
            hit = self._fcol[k] = (f, self.columns[FeatureKey.of(f, level, self.as_of)])
        return hit[1]

    # -- scope -----------------------------------------------------------------------------
    def _value_lut(self, col: str, kind: str, arg: str) -> np.ndarray:
        """Per distinct value of ``col``: does a name pattern / label needle match it."""
        k = (col, kind, arg)
        if k not in self._pattern:
            c = self.codes(col)
            if kind == "regex":
                pat = re.compile(arg.removeprefix("(?is)"), re.I | re.S)
                hits = [isinstance(v, str) and pat.fullmatch(v) is not None for v in c.values]
            else:
                hits = [isinstance(v, str) and arg in v for v in c.values]
            self._pattern[k] = np.array([*hits, False], bool)
        return self._pattern[k]

    def _active_rows(self) -> np.ndarray:
        if self._active is None:
            c = self.codes("status")
            ok = [i for i, v in enumerate(c.values) if v is not None and v != "removed"]
            self._active = c.lut(ok)
        return self._active

    def candidates(self, rule: Rule) -> np.ndarray:
        """Sorted positions of the rows in the rule's scope (filters, name patterns, labels,
        and for actions other than alerts a status that is set and not removed)."""
        key = rule.scope.model_dump_json() + ("" if rule.action.type == "alert" else "+status")
        hit = self._scope.get(key)
        if hit is not None:
            return hit
        s = rule.scope
        exact = []
        for col, values in scope_filters(rule, self.names):
            c = self.codes(col)
            exact.append((c, [c.lookup[v] for v in dict.fromkeys(values) if v in c.lookup]))
        if exact:
            exact.sort(key=lambda cw: cw[0].count(cw[1]))
            c0, w0 = exact[0]
            cand = c0.rows(w0)
            for c, wanted in exact[1:]:
                cand = cand[c.lut(wanted)[c.codes[cand]]]
        else:
            cand = np.arange(self.n)
        if s.campaign_name or s.exclude_campaign_name:
            if "campaign_name" not in self.names:
                raise ConfigError(f"rule {rule.id!r}: campaign_name does not apply here")
            codes = self.codes("campaign_name").codes[cand]
            if s.campaign_name:
                hit = np.zeros(len(cand), bool)
                for p in s.campaign_name:
                    hit |= self._value_lut("campaign_name", "regex", glob_regex(p))[codes]
                cand = cand[hit]
                codes = codes[hit]
            for p in s.exclude_campaign_name:
                keep = ~self._value_lut("campaign_name", "regex", glob_regex(p))[codes]
                cand = cand[keep]
                codes = codes[keep]
        if s.labels:
            codes = self.codes("labels").codes[cand]
            hit = np.zeros(len(cand), bool)
            for lb in s.labels:
                hit |= self._value_lut("labels", "contains", label_needle(lb))[codes]
            cand = cand[hit]
        if rule.action.type != "alert":
            cand = cand[self._active_rows()[self.codes("status").codes[cand]]]
        self._scope[key] = cand
        return cand

    # -- conditions ------------------------------------------------------------------------
    def values(self, f: Feature, level: Level, pos: np.ndarray) -> np.ndarray:
        return self.arr(self.feature_col(f, level))[pos]

    def condition(self, c: Condition, level: Level, pos: np.ndarray) -> np.ndarray:
        lhs = self.values(c.feature, level, pos)
        if c.other is not None:
            rhs = self.values(c.other, level, pos) * c.factor
        else:
            rhs = np.float64(float(c.value) * c.factor)  # type: ignore[arg-type]
        return compare(lhs, c.op, rhs)

    def node(self, node: Node, rule: Rule, pos: np.ndarray | None = None) -> np.ndarray:
        """The node's truth over the rows ``pos`` (all rows when None)."""
        if pos is None:
            pos = np.arange(self.n)
        if isinstance(node, Condition):
            return self.condition(node, rule.scope.level, pos)
        kids = node.all if isinstance(node, All) else node.any
        out = self.node(kids[0], rule, pos)
        for k in kids[1:]:
            if isinstance(node, All):
                if not out.any():
                    break
                out &= self.node(k, rule, pos)
            else:
                out |= self.node(k, rule, pos)
        return out

    def rows(self, rule: Rule) -> np.ndarray:
        """Sorted positions of the table's rows the rule matches."""
        pos = self.candidates(rule)
        if len(pos) and rule.min_data is not None:
            pos = pos[self.node(rule.min_data, rule, pos)]
        if len(pos):
            pos = pos[self.node(rule.conditions, rule, pos)]
        return pos
