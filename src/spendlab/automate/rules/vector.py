"""Vectorized evaluation of many rules over a materialized feature table (rules as data).

Compiling one Ibis expression per rule costs milliseconds of Python per rule; for thousands of
rules the shared feature table (built by one Ibis aggregation) is read once into columns and
each rule's scope and conditions become array comparisons over it. Same semantics as
:func:`spendlab.automate.rules.compile.rule_predicate` (tests check both against the reference):
NULL (NaN) never satisfies a comparison.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from spendlab.automate.rules.compile import glob_regex, label_needle, scope_filters
from spendlab.automate.rules.features import FeatureKey
from spendlab.automate.rules.spec import All, Condition, Node, Rule
from spendlab.errors import ConfigError

_OPS = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


class VectorEvaluator:
    """Masks of rules over one feature frame, with per-column and per-scope caches."""

    def __init__(self, frame: pd.DataFrame, columns: dict[FeatureKey, str], as_of: date):
        self.frame = frame
        self.columns = columns
        self.as_of = as_of
        self.n = len(frame)
        self._arr: dict[str, np.ndarray] = {}
        self._scope: dict[str, np.ndarray] = {}
        self._isin: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self._regex: dict[str, np.ndarray] = {}
        self._codes: dict[str, tuple[np.ndarray, dict[str, int]]] = {}

    def arr(self, col: str) -> np.ndarray:
        if col not in self._arr:
            self._arr[col] = self.frame[col].to_numpy(dtype="float64", na_value=np.nan)
        return self._arr[col]

    def isin(self, col: str, values: tuple[str, ...]) -> np.ndarray:
        k = (col, values)
        if k not in self._isin:
            if col not in self._codes:
                cat = pd.Categorical(self.frame[col].astype("object"))
                self._codes[col] = (
                    np.asarray(cat.codes),
                    {str(c): i for i, c in enumerate(cat.categories)},
                )
            codes, lookup = self._codes[col]
            wanted = [lookup[v] for v in values if v in lookup]
            self._isin[k] = np.isin(codes, wanted) if wanted else np.zeros(self.n, bool)
        return self._isin[k]

    def regex(self, col: str, rx: str) -> np.ndarray:
        k = f"{col}\x00{rx}"
        if k not in self._regex:
            pat = re.compile(rx.removeprefix("(?is)"), re.I | re.S)
            vals = self.frame[col].astype("object").tolist()
            uniq = {
                v: bool(isinstance(v, str) and pat.fullmatch(v.removesuffix(""))) for v in set(vals)
            }
            self._regex[k] = np.fromiter((uniq[v] for v in vals), bool, len(vals))
        return self._regex[k]

    def contains(self, col: str, needle: str) -> np.ndarray:
        k = f"{col}\x01{needle}"
        if k not in self._regex:
            vals = self.frame[col].astype("object").tolist()
            self._regex[k] = np.fromiter(
                (isinstance(v, str) and needle in v for v in vals), bool, len(vals)
            )
        return self._regex[k]

    def scope_mask(self, rule: Rule) -> np.ndarray:
        key = rule.scope.model_dump_json() + rule.action.type
        if key in self._scope:
            return self._scope[key]
        s = rule.scope
        mask = np.ones(self.n, bool)
        cols = set(self.frame.columns)
        for col, values in scope_filters(rule, cols):
            mask &= self.isin(col, values)
        if s.campaign_name or s.exclude_campaign_name:
            if "campaign_name" not in cols:
                raise ConfigError(f"rule {rule.id!r}: campaign_name does not apply here")
            if s.campaign_name:
                hit = np.zeros(self.n, bool)
                for p in s.campaign_name:
                    hit |= self.regex("campaign_name", glob_regex(p))
                mask &= hit
            for p in s.exclude_campaign_name:
                mask &= ~self.regex("campaign_name", glob_regex(p))
        if s.labels:
            hit = np.zeros(self.n, bool)
            for lb in s.labels:
                hit |= self.contains("labels", label_needle(lb))
            mask &= hit
        if rule.action.type != "alert":
            st = self.frame["status"].astype("object")
            mask &= (st.notna() & (st != "removed")).to_numpy()
        self._scope[key] = mask
        return mask

    def node(self, node: Node, rule: Rule) -> np.ndarray:
        if isinstance(node, Condition):
            lvl = rule.scope.level
            lhs = self.arr(self.columns[FeatureKey.of(node.feature, lvl, self.as_of)])
            if node.other is not None:
                rhs = self.arr(self.columns[FeatureKey.of(node.other, lvl, self.as_of)])
                rhs = rhs * node.factor
            else:
                rhs = np.float64(float(node.value) * node.factor)  # type: ignore[arg-type]
            with np.errstate(invalid="ignore"):
                out = _OPS[node.op](lhs, rhs)
            if node.op == "!=":
                out &= ~np.isnan(lhs) & ~np.isnan(rhs)
            return out
        kids = node.all if isinstance(node, All) else node.any
        out = self.node(kids[0], rule)
        for k in kids[1:]:
            out = (
                (out & self.node(k, rule)) if isinstance(node, All) else (out | self.node(k, rule))
            )
        return out

    def rows(self, rule: Rule) -> np.ndarray:
        """Positions of the frame's rows the rule matches."""
        mask = self.scope_mask(rule).copy()
        if rule.min_data is not None:
            mask &= self.node(rule.min_data, rule)
        if mask.any():
            mask &= self.node(rule.conditions, rule)
        return np.flatnonzero(mask)
