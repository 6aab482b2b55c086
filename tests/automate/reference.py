"""A naive, row-by-row reference evaluator: plain Python loops over the rows of
``ad_performance``, written from the definitions in ``automate/rules/features.py`` without any
of its code. Tests check that the engine proposes exactly what this proposes."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import date, timedelta

import pandas as pd

from spendlab.automate.rules.spec import All, Condition, Feature, Rule

INF = math.inf
BASE = {
    "impressions": "impressions",
    "clicks": "clicks",
    "spend": "spend",
    "conversions": "conversions",
    "revenue": "conversion_value",
}
RATIOS = {
    "ctr": ("clicks", "impressions", "null", 1.0),
    "cpc": ("spend", "clicks", "null", 1.0),
    "cpm": ("spend", "impressions", "null", 1000.0),
    "cvr": ("conversions", "clicks", "null", 1.0),
    "cpa": ("spend", "conversions", "inf", 1.0),
    "roas": ("revenue", "spend", "null", 1.0),
    "impression_share": ("is_imps", "eligible", "null", 1.0),
}
SUMS = (*BASE, "is_imps", "eligible")  # impression share: rows with a reported share > 0


def share_of(extras) -> float | None:
    """extras.search_impression_share when it is a number."""
    if isinstance(extras, str):
        extras = json.loads(extras)
    v = extras.get("search_impression_share") if isinstance(extras, dict) else None
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


KEYS = {
    "keyword": ("platform", "account_id", "campaign_id", "ad_group_id", "keyword_id"),
    "ad": ("platform", "account_id", "campaign_id", "ad_group_id", "ad_id"),
    "ad_group": ("platform", "account_id", "campaign_id", "ad_group_id"),
    "campaign": ("platform", "account_id", "campaign_id"),
    "account": ("platform", "account_id"),
    "code": ("code",),
    "business_unit": ("business_unit",),
}


def window_dates(w, as_of: date) -> tuple[date, date]:
    if w.kind == "last_days":
        e = as_of - timedelta(days=w.lag)
        s = e - timedelta(days=w.days - 1)
    elif w.kind == "this_week":
        s = as_of - timedelta(days=as_of.weekday())
        e = as_of - timedelta(days=1)
    elif w.kind == "last_week":
        s = as_of - timedelta(days=as_of.weekday() + 7)
        e = s + timedelta(days=6)
    elif w.kind == "month_to_date":
        s = date(as_of.year, as_of.month, 1)
        e = as_of - timedelta(days=1)
    else:
        e = date(as_of.year, as_of.month, 1) - timedelta(days=1)
        s = date(e.year, e.month, 1)
    for _ in range(w.shift):
        n = (e - s).days + 1
        if w.kind == "last_month":
            e = s - timedelta(days=1)
            s = date(e.year, e.month, 1)
        else:
            s, e = s - timedelta(days=n), e - timedelta(days=n)
    return s, e


def value(kpi: str, v: dict[str, float]):
    # base sums are rounded to 6 decimals (the engine's order-independent sums); integer
    # sums are exact
    v = {k: x if isinstance(x, int) or float(x).is_integer() else round(x, 6) for k, x in v.items()}
    if kpi in BASE:
        return float(v[kpi])
    if kpi == "profit":
        return float(v["revenue"] - v["spend"])
    num, den, pol, scale = RATIOS[kpi]
    if v[den] == 0:
        return INF if (pol == "inf" and v[num] > 0) else None
    return float(v[num]) / float(v[den]) * scale


def cmp(a, op, b) -> bool:
    if a is None or b is None:
        return False
    return {
        ">": a > b,
        ">=": a >= b,
        "<": a < b,
        "<=": a <= b,
        "==": a == b,
        "!=": a != b,
    }[op]


class Reference:
    def __init__(self, ap: pd.DataFrame, ents: pd.DataFrame):
        self.ap = ap
        self.ents = ents
        self._days: dict = {}
        self._attrs: dict = {}
        self._feat: dict = {}

    def days(self, level: str, countries=(), devices=()):
        """entity -> {date: {kpi: sum}} built with a plain loop over rows."""
        k = (level, countries, devices)
        if k in self._days:
            return self._days[k]
        out: dict = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(SUMS, 0.0)))
        keys = KEYS[level]
        for row in self.ap.itertuples(index=False):
            r = row._asdict()
            if level in ("code", "business_unit"):
                if not r[level]:
                    continue
            elif level == "account":
                if r["account_id"] == "":
                    continue
            elif r[f"{level}_id"] == "":
                continue
            if countries and r["country"] not in countries:
                continue
            if devices and r["device"] not in devices:
                continue
            ent = tuple(r[c] for c in keys)
            day = r["date"].date() if hasattr(r["date"], "date") else r["date"]
            acc = out[ent][day]
            for kpi, col in BASE.items():
                acc[kpi] += r[col]
            share = share_of(r.get("extras"))
            if share is not None and share > 0:
                acc["is_imps"] += r["impressions"]
                acc["eligible"] += r["impressions"] / share
        self._days[k] = out
        return out

    def feature(self, f: Feature, level: str, ent: tuple, as_of: date, seg):
        k = (f, level, ent, as_of, seg)
        if k not in self._feat:
            self._feat[k] = self._feature(f, level, ent, as_of, seg)
        return self._feat[k]

    def _feature(self, f: Feature, level: str, ent: tuple, as_of: date, seg):
        days = self.days(level, *seg).get(ent, {})
        s, e = window_dates(f.window, as_of)
        n = (e - s).days + 1
        inw = [(d, v) for d, v in sorted(days.items()) if s <= d <= e]

        def sum_value(lo, hi):
            tot = dict.fromkeys(SUMS, 0.0)
            for d, v in days.items():
                if lo <= d <= hi:
                    for kk in SUMS:
                        tot[kk] += v[kk]
            return value(f.kpi, tot)

        if f.analytic == "sum":
            return sum_value(s, e)
        if f.analytic == "avg":
            if f.kpi in RATIOS:
                vals = [value(f.kpi, v) for _, v in inw]
                vals = [x for x in vals if x is not None]
                return sum(vals) / len(vals) if vals else None
            return sum_value(s, e) / n if n > 0 else None
        if f.analytic in ("min", "max", "last"):
            vals = [value(f.kpi, v) for _, v in inw]
            vals = [x for x in vals if x is not None]
            if not vals:
                return None
            return {"min": min, "max": max, "last": lambda xs: xs[-1]}[f.analytic](vals)
        if f.analytic == "trend":
            this = sum_value(s, e)
            ps, pe = window_dates(f.window.model_copy(update={"shift": f.window.shift + 1}), as_of)
            prev = sum_value(ps, pe)
            if this is None or prev is None:
                return None
            if prev == 0:
                return INF if this > 0 else (-INF if this < 0 else 0.0)
            return (this - prev) / abs(prev)
        hits = sum(1 for _, v in inw if cmp(value(f.kpi, v), f.daily.op, f.daily.value))
        if f.analytic == "days":
            return float(hits)
        return hits / n if n > 0 else None

    def attrs(self, level: str, ent: tuple) -> dict:
        if (level, ent) not in self._attrs:
            self._attrs[(level, ent)] = self._attrs_of(level, ent)
        return self._attrs[(level, ent)]

    def _attrs_of(self, level: str, ent: tuple) -> dict:
        keys = KEYS[level]
        r = dict(zip(keys, ent, strict=True))
        if "campaign_id" in keys:
            m = self.ap[
                (self.ap.platform == r["platform"])
                & (self.ap.account_id == r["account_id"])
                & (self.ap.campaign_id == r["campaign_id"])
            ]
            for c in (
                "campaign_name",
                "business_unit",
                "code",
                "objective",
                "lifecycle_stage",
                "language",
            ):
                if c not in m:
                    continue
                vals = [x for x in m[c] if x is not None and not pd.isna(x)]
                r[c] = max(vals) if vals else None
        if level == "code":
            m = self.ap[self.ap.code == r["code"]]
            r["business_unit"] = max(x for x in m.business_unit if x)
        if level not in ("code", "business_unit"):
            e = self.ents[self.ents.level == level]
            for c in ("account_id", "campaign_id", "ad_group_id", "keyword_id", "ad_id"):
                e = e[e[c] == r[c]] if c in keys else e[e[c] == ""]
            e = e[e.platform == r["platform"]]
            if len(e):
                row = e.iloc[0]
                r["status"] = row.status
                r["labels"] = row.labels
                r["bid"] = row.bid
            else:
                r["status"] = None
                r["labels"] = None
        return r

    def parent_ent(self, plevel: str, level: str, ent: tuple, attrs: dict) -> tuple:
        if plevel in ("code", "business_unit"):
            return (attrs.get(plevel),)
        return tuple(attrs[c] for c in KEYS[plevel])

    def matches(self, rule: Rule, as_of: date) -> set[tuple]:
        level = rule.scope.level.value
        seg = (tuple(sorted(rule.scope.country)), tuple(sorted(rule.scope.device)))
        out = set()
        for ent in sorted(self.days(level, *seg)):
            a = self.attrs(level, ent)
            if not self._scope(rule, a):
                continue
            if rule.min_data is not None and not self._node(rule.min_data, rule, ent, a, as_of):
                continue
            if self._node(rule.conditions, rule, ent, a, as_of):
                out.add((rule.id, ent))
        return out

    def _f(self, f: Feature, rule, ent, a, as_of):
        lvl = (f.level or rule.scope.level).value
        seg = (tuple(sorted(rule.scope.country)), tuple(sorted(rule.scope.device)))
        e = ent if lvl == rule.scope.level.value else self.parent_ent(lvl, None, ent, a)
        return self.feature(f, lvl, e, as_of, seg)

    def _node(self, node, rule, ent, a, as_of) -> bool:
        if isinstance(node, Condition):
            lhs = self._f(node.feature, rule, ent, a, as_of)
            if node.other is not None:
                rhs = self._f(node.other, rule, ent, a, as_of)
                rhs = None if rhs is None else rhs * node.factor
            else:
                rhs = node.value * node.factor
            return cmp(lhs, node.op, rhs)
        if isinstance(node, All):
            return all(self._node(k, rule, ent, a, as_of) for k in node.all)
        return any(self._node(k, rule, ent, a, as_of) for k in node.any)

    def _scope(self, rule: Rule, a: dict) -> bool:
        s = rule.scope
        for name, col in (
            ("platform", "platform"),
            ("account", "account_id"),
            ("campaign", "campaign_id"),
            ("business_unit", "business_unit"),
            ("code", "code"),
            ("objective", "objective"),
            ("lifecycle_stage", "lifecycle_stage"),
            ("language", "language"),
            ("status", "status"),
        ):
            vals = getattr(s, name)
            if vals and a.get(col) not in vals:
                return False

        def glob(p, text):
            rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p)
            return text is not None and re.fullmatch(rx, text, re.I | re.S) is not None

        if s.campaign_name and not any(glob(p, a.get("campaign_name")) for p in s.campaign_name):
            return False
        if any(glob(p, a.get("campaign_name")) for p in s.exclude_campaign_name):
            return False
        if s.labels:
            labels = json.loads(a["labels"]) if a.get("labels") else []
            if not set(labels) & set(s.labels):
                return False
        if rule.action.type != "alert" and a.get("status") in (None, "removed"):
            return False
        return True
