"""Shared feature tables: every KPI x analytic x window any rule reads, computed once per run.

For each (level, segment) the rules need, ONE aggregation over ``ad_performance`` builds a daily
table (entity x day sums) and then one row per entity with a column per feature (conditional
aggregates, one per window), so a thousand rules reading 7- and 30-day windows cost one scan.
Parent-level features (the campaign's CPA for a keyword rule) come from the parent level's
table, joined on the parent keys; the entity's current state (status, bid, budget, labels) from
``entities``.

Definitions (the reference evaluator in tests implements the same, row by row):

- The entities of a level are those with ``ad_performance`` rows at that level at any date
  (keyword level: rows with a ``keyword_id``; campaign level: every row with a ``campaign_id``).
  Each entity's performance must be reported at one level (no overlapping reports).
- ``sum``: additive KPI: sum over the window (0 without rows); ratio KPI: ratio of the sums with
  the KPI's zero-denominator policy (:data:`spec.RATIO_KPIS`).
- ``avg``: additive: sum / days in the window; ratio: mean of the defined daily ratios
  (summed in fixed point, so every run and both evaluation paths agree to the last digit).
- ``min`` / ``max``: over the days with rows (undefined daily ratios are skipped).
- ``last``: the daily value on the latest day in the window where it is defined.
- ``trend``: (this - previous) / |previous| of the ``sum`` value over the same-length window
  just before; previous 0: +inf if this > 0, 0 if this is 0, -inf if below.
- ``days``: days with rows in the window where the daily condition holds; ``share_days``: that
  number over the days in the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import ibis
import ibis.expr.types as ir

from spendlab.automate.rules.spec import (
    BASE_KPIS,
    IMPRESSION_SHARE_KEY,
    RATIO_KPIS,
    RATIO_SCALE,
    Feature,
)
from spendlab.core.hierarchy import Level
from spendlab.core.metrics import ZeroPolicy
from spendlab.data import metrics

INF = float("inf")

#: Group keys of each level's entities.
LEVEL_KEYS: dict[Level, tuple[str, ...]] = {
    Level.KEYWORD: ("platform", "account_id", "campaign_id", "ad_group_id", "keyword_id"),
    Level.AD: ("platform", "account_id", "campaign_id", "ad_group_id", "ad_id"),
    Level.AD_GROUP: ("platform", "account_id", "campaign_id", "ad_group_id"),
    Level.CAMPAIGN: ("platform", "account_id", "campaign_id"),
    Level.ACCOUNT: ("platform", "account_id"),
    Level.CODE: ("code",),
    Level.BUSINESS_UNIT: ("business_unit",),
}
#: Campaign attributes carried onto every level at or below campaign (for scope filters).
CAMPAIGN_ATTRS = (
    "account_name",
    "business_unit",
    "code",
    "campaign_name",
    "objective",
    "lifecycle_stage",
    "language",
)
STATE_COLUMNS = ("status", "bid", "budget", "labels")
ID_COLUMNS = ("account_id", "campaign_id", "ad_group_id", "keyword_id", "ad_id")

Segment = tuple[tuple[str, ...], tuple[str, ...]]  # (countries, devices); empty = all


@dataclass(frozen=True)
class FeatureKey:
    """A feature resolved for one run date: concrete date ranges instead of relative windows."""

    level: Level
    kpi: str
    analytic: str
    start: date
    end: date
    prev: tuple[date, date] | None = None
    daily: tuple[str, float] | None = None

    @classmethod
    def of(cls, f: Feature, rule_level: Level, as_of: date) -> FeatureKey:
        start, end = f.window.dates(as_of)
        prev = f.window.previous().dates(as_of) if f.analytic == "trend" else None
        daily = (f.daily.op, float(f.daily.value)) if f.daily else None
        return cls(f.level or rule_level, f.kpi, f.analytic, start, end, prev, daily)

    @property
    def days(self) -> int:
        return max((self.end - self.start).days + 1, 0)


@dataclass
class FeatureTable:
    """One level's entities with every requested feature (``columns`` maps key -> column)."""

    level: Level
    segment: Segment
    expr: ir.Table
    columns: dict[FeatureKey, str] = field(default_factory=dict)


def level_filter(t: ir.Table, level: Level) -> ir.BooleanValue:
    """Rows of ``ad_performance`` that describe entities of ``level`` (or their children)."""
    if level in (Level.CODE, Level.BUSINESS_UNIT):
        return t[level.value].notnull() & (t[level.value] != "")
    if level is Level.ACCOUNT:
        return t.account_id != ""
    return t[f"{level.value}_id"] != ""


def _segment_filter(t: ir.Table, segment: Segment) -> ir.Table:
    countries, devices = segment
    if countries:
        t = t.filter(t.country.isin(list(countries)))
    if devices:
        t = t.filter(t.device.isin(list(devices)))
    return t


def _cmp(x: ir.Value, op: str, y: ir.Value | float) -> ir.BooleanValue:
    return {
        ">": lambda: x > y,
        ">=": lambda: x >= y,
        "<": lambda: x < y,
        "<=": lambda: x <= y,
        "==": lambda: x == y,
        "!=": lambda: x != y,
    }[op]()


def ratio(num: ir.NumericValue, den: ir.NumericValue, policy: ZeroPolicy) -> ir.FloatingValue:
    """num / den with a zero-denominator policy (never a backend's own 1/0 behaviour): the one
    helper, :func:`spendlab.data.metrics.ratio`."""
    return metrics.ratio(num, den, policy)


def base_value(t: ir.Table, base: str) -> ir.NumericValue:
    """A row's value of a base sum: an ``ad_performance`` column, or for impression share the
    impressions and eligible impressions of rows that report a share above 0 (else NULL)."""
    if base in BASE_KPIS:
        return t[BASE_KPIS[base]]
    null = ibis.null().cast("float64")
    if "extras" not in t.columns:
        return null
    extras = t.extras if t.extras.type().is_json() else t.extras.cast("json")
    share = extras[IMPRESSION_SHARE_KEY].unwrap_as("float64")
    ok = (share > 0).fill_null(False)
    imps = t.impressions.cast("float64")
    return ibis.ifelse(ok, imps if base == "is_impressions" else imps / share, null)


#: Decimals daily values are fixed to before they are averaged (see :func:`exact_mean`).
MEAN_DECIMALS = 12


def exact_mean(x: ir.FloatingValue, where: ir.BooleanValue) -> ir.FloatingValue:
    """The mean of the defined values of ``x`` where ``where`` holds, the same on every run and
    in every evaluation path: the finite values are summed as fixed-point decimals (exact, so the
    order a parallel warehouse adds them in cannot change the last digits, as a float ``mean``
    did: 0.5669800000161092 vs ...093), then divided by their count. Any +inf (a daily ratio with
    the ``infinite`` zero-denominator policy) makes the mean +inf, any -inf -inf; NULL without a
    defined value."""
    inf = ibis.literal(INF)
    finite = ibis.ifelse(x.isinf(), ibis.null().cast("float64"), x)
    fixed = finite.round(MEAN_DECIMALS).cast(f"decimal(38, {MEAN_DECIMALS})")
    total = fixed.sum(where=where).cast("float64")
    n = x.count(where=where)
    pos = ((x == inf) & where).any()
    neg = ((x == -inf) & where).any()
    return ibis.cases(
        (pos.fill_null(False), inf),
        (neg.fill_null(False), -inf),
        (n > 0, total / n.cast("float64")),
        else_=ibis.null().cast("float64"),
    )


def kpi_from(values: dict[str, ir.NumericValue], kpi: str) -> ir.NumericValue:
    """A KPI from base sums (``values`` holds impressions, clicks, spend, conversions,
    revenue)."""
    if kpi in BASE_KPIS:
        return values[kpi].cast("float64")
    if kpi == "profit":
        return (values["revenue"] - values["spend"]).cast("float64")
    num, den, policy = RATIO_KPIS[kpi]
    r = ratio(values[num], values[den], policy)
    return r * RATIO_SCALE[kpi] if kpi in RATIO_SCALE else r


def trend(this: ir.FloatingValue, prev: ir.FloatingValue) -> ir.FloatingValue:
    inf = ibis.literal(INF)
    at_zero = ibis.cases((this > 0, inf), (this < 0, -inf), else_=ibis.literal(0.0))
    out = ibis.ifelse(prev == 0, at_zero, (this - prev) / prev.abs())
    return ibis.ifelse(this.isnull() | prev.isnull(), ibis.null().cast("float64"), out)


def _needed(kpi: str) -> tuple[str, ...]:
    """The base sums a KPI is computed from."""
    if kpi in BASE_KPIS:
        return (kpi,)
    if kpi == "profit":
        return ("revenue", "spend")
    return RATIO_KPIS[kpi][:2]


def _sum_based(fk: FeatureKey) -> bool:
    """Features computed from window sums alone (no daily values needed)."""
    return fk.analytic in ("sum", "trend") or (fk.analytic == "avg" and fk.kpi not in RATIO_KPIS)


def left_join(left: ir.Table, right: ir.Table, on: list[str], take: list[str]) -> ir.Table:
    """``left`` with the ``take`` columns of ``right`` matched on ``on`` (NULL keys match NULL
    keys, as they form one group in a group-by)."""
    r = right.select(*[right[k].name(f"_k_{k}") for k in on], *take)
    j = left.left_join(r, [left[k].identical_to(r[f"_k_{k}"]) for k in on])
    return j.select(*left.columns, *take)


def build_feature_table(
    ap: ir.Table,
    level: Level,
    keys: list[FeatureKey],
    *,
    segment: Segment = ((), ()),
    prefix: str = "f",
) -> FeatureTable:
    """One row per entity of ``level`` with a column per feature key (all of ``level``).

    Two aggregations, so the scan stays cheap at tens of millions of rows: window sums (and
    what derives from them: ``sum``, ``trend``, additive ``avg``) straight from the rows grouped
    by entity (a sum of daily sums is the sum of the rows); the analytics over daily values
    (``min``, ``max``, ``last``, ratio ``avg``, ``days``, ``share_days``) from entity-day sums of
    only the KPIs and dates they read, joined on. The first defines the entity set."""
    gkeys = list(LEVEL_KEYS[level])
    t = _segment_filter(ap.filter(level_filter(ap, level)), segment)
    aggs: dict[str, ir.Value] = {}
    sums: dict[tuple[str, date, date], str] = {}

    def sum_col(kpi_base: str, start: date, end: date) -> str:
        k = (kpi_base, start, end)
        if k not in sums:
            name = f"_s{len(sums)}"
            sums[k] = name
            aggs[name] = metrics.exact_sum(
                base_value(t, kpi_base), where=t.date.between(start, end)
            )
        return sums[k]

    columns: dict[FeatureKey, str] = {}
    post: dict[str, tuple[FeatureKey, list]] = {}  # features derived from sums after aggregating
    per_day: list[tuple[str, FeatureKey]] = []
    for i, fk in enumerate(dict.fromkeys(keys)):
        name = f"{prefix}{i}"
        columns[fk] = name
        if _sum_based(fk):
            windows = [(fk.start, fk.end)] + ([fk.prev] if fk.prev else [])
            refs = [{b: sum_col(b, s, e) for b in _needed(fk.kpi)} for s, e in windows]
            post[name] = (fk, refs)
        else:
            per_day.append((name, fk))
            if fk.analytic == "share_days":
                post[name] = (fk, [])
    if not aggs:
        aggs["_n"] = t.count()
    f = t.group_by(gkeys).aggregate(**aggs)
    if per_day:
        f = left_join(f, _daily_features(t, gkeys, per_day), gkeys, [n for n, _ in per_day])
    derived = {}
    for name, _fk in per_day:
        if _fk.analytic in ("days", "share_days"):  # no row in the dates read: 0 days
            derived[name] = f[name].fill_null(0)
    if derived:
        f = f.mutate(**derived)
        derived = {}
    for name, (fk, refs) in post.items():
        if fk.analytic == "share_days":
            derived[name] = (f[name] / fk.days if fk.days else ibis.null().cast("float64")).cast(
                "float64"
            )
            continue
        vals = [kpi_from({b: f[c].fill_null(0) for b, c in r.items()}, fk.kpi) for r in refs]
        if fk.analytic == "sum":
            derived[name] = vals[0]
        elif fk.analytic == "avg":
            derived[name] = vals[0] / fk.days if fk.days else ibis.null().cast("float64")
        else:
            derived[name] = trend(vals[0], vals[1])
    if derived:
        f = f.mutate(**{k: v.cast("float64") for k, v in derived.items()})
    feats = [columns[k] for k in columns]
    return FeatureTable(level, segment, f.select(*gkeys, *feats), columns)


def _daily_features(t: ir.Table, gkeys: list[str], feats: list[tuple[str, FeatureKey]]) -> ir.Table:
    """Analytics over daily values, from entity-day sums of the KPIs and dates they read."""
    spans = [(fk.start, fk.end) for _, fk in feats if fk.start <= fk.end]
    if spans:
        t = t.filter(t.date.between(min(s for s, _ in spans), max(e for _, e in spans)))
    else:  # every window is empty
        t = t.filter(ibis.literal(False))
    bases = sorted({b for _, fk in feats for b in _needed(fk.kpi)})
    d = t.group_by([*gkeys, "date"]).aggregate(
        **{b: metrics.exact_sum(base_value(t, b)) for b in bases}
    )
    base = {b: d[b] for b in bases}
    aggs: dict[str, ir.Value] = {}
    for name, fk in feats:
        in_w = d.date.between(fk.start, fk.end)
        dv = kpi_from(base, fk.kpi)
        if fk.analytic == "avg":
            aggs[name] = exact_mean(dv, in_w)
        elif fk.analytic == "min":
            aggs[name] = dv.min(where=in_w)
        elif fk.analytic == "max":
            aggs[name] = dv.max(where=in_w)
        elif fk.analytic == "last":
            aggs[name] = dv.argmax(d.date, where=in_w & dv.notnull())
        else:  # days, share_days
            assert fk.daily is not None
            hit = in_w & _cmp(dv, fk.daily[0], fk.daily[1]).fill_null(False)
            aggs[name] = ibis.ifelse(hit, 1, 0).sum().cast("float64")
    return d.group_by(gkeys).aggregate(**aggs)


def campaign_attributes(ap: ir.Table, attrs: list[str] | None = None) -> ir.Table:
    """One row per campaign with its name, business unit, code, objective, lifecycle stage
    (or only the ``attrs`` of those)."""
    t = ap.filter(ap.campaign_id != "")
    return t.group_by(list(LEVEL_KEYS[Level.CAMPAIGN])).aggregate(
        **{a: t[a].max() for a in (CAMPAIGN_ATTRS if attrs is None else attrs)}
    )


def entity_state(ents: ir.Table, level: Level) -> ir.Table | None:
    """Current status, bid, budget and labels of the level's entities (None above account)."""
    if level in (Level.CODE, Level.BUSINESS_UNIT):
        return None
    keys = list(LEVEL_KEYS[level])
    e = ents.filter(ents.level == level.value)
    for col in ID_COLUMNS:  # the finer ids of an entity row are '' (e.g. ad_id of a keyword)
        if col not in keys:
            e = e.filter(e[col] == "")
    return e.select(
        *keys,
        status=e.status,
        bid=e.bid,
        budget=e.budget,
        labels=e.labels.cast("string"),
    )
