"""The metric glossary: one name per metric, used for columns, attributes, API fields and UI labels.

Every ratio states its zero-denominator policy: what the metric is when the denominator is zero.
One helper applies it everywhere (``spendlab.data.metrics.ratio`` in the warehouse, ``ratio_array``
for in-memory frames):

==========  ======================  ==========  =============================================
ratio       numerator/denominator   policy      over zero
==========  ======================  ==========  =============================================
``ctr``     clicks / impressions    NULL        no impressions: undefined
``cpc``     spend / clicks          NULL        no clicks: undefined
``cpm``     spend / impressions     NULL        no impressions: undefined (x 1000 otherwise)
``cvr``     conversions / clicks    NULL        no clicks: undefined
``cpa``     spend / conversions     INFINITE    spend, no conversions: +inf; neither: undefined
``roas``    revenue / spend         NULL        no spend: undefined
==========  ======================  ==========  =============================================

Undefined is NULL (NaN in arrays): a rule condition on it is not met. +inf orders above every
number; JSON has none, so interfaces print it (and undefined values) as null.
Never an unqualified "ROI": ``roas`` is platform-reported revenue over spend, ``iroas`` comes from a
causal model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ZeroPolicy(StrEnum):
    """What a ratio is when its denominator is zero."""

    NULL = "null"  # undefined: excluded from comparisons (a condition on it is not met)
    ZERO = "zero"  # defined as 0 (no glossary ratio uses it; for custom ratios)
    # numerator > 0 over zero: +inf (CPA with spend and no conversions); 0 over 0: undefined
    INFINITE = "infinite"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    description: str
    numerator: str | None = None
    denominator: str | None = None
    zero_policy: ZeroPolicy | None = None
    money: bool = False
    higher_is_better: bool = True
    scale: float = 1.0  # a ratio is scale x numerator / denominator (CPM: per thousand)

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None


_METRICS = [
    Metric("impressions", "Impressions", "Times an ad was shown."),
    Metric("clicks", "Clicks", "Clicks on an ad."),
    Metric(
        "spend",
        "Spend",
        "Media cost in the workspace currency.",
        money=True,
        higher_is_better=False,
    ),
    Metric("conversions", "Conversions", "Platform-reported conversions (may be fractional)."),
    Metric(
        "revenue",
        "Revenue",
        "Platform-reported conversion value in the workspace currency.",
        money=True,
    ),
    Metric("profit", "Profit", "Revenue minus spend (before margins).", money=True),
    Metric("ctr", "CTR", "Clicks per impression.", "clicks", "impressions", ZeroPolicy.NULL),
    Metric(
        "cpc",
        "CPC",
        "Spend per click.",
        "spend",
        "clicks",
        ZeroPolicy.NULL,
        money=True,
        higher_is_better=False,
    ),
    Metric(
        "cpm",
        "CPM",
        "Spend per thousand impressions.",
        "spend",
        "impressions",
        ZeroPolicy.NULL,
        money=True,
        higher_is_better=False,
        scale=1000.0,
    ),
    Metric(
        "cvr", "Conversion rate", "Conversions per click.", "conversions", "clicks", ZeroPolicy.NULL
    ),
    Metric(
        "cpa",
        "CPA",
        "Spend per conversion; spend with no conversions is +inf.",
        "spend",
        "conversions",
        ZeroPolicy.INFINITE,
        money=True,
        higher_is_better=False,
    ),
    Metric(
        "roas",
        "ROAS",
        "Platform-reported revenue per unit spend (not causal).",
        "revenue",
        "spend",
        ZeroPolicy.NULL,
    ),
    Metric("iroas", "iROAS", "Incremental revenue per unit spend, from a causal model."),
    Metric("mroas", "mROAS", "Marginal iROAS at current spend: revenue from the next unit spent."),
    Metric(
        "cpik",
        "Cost per incremental KPI",
        "Spend per incremental KPI unit, causal.",
        money=True,
        higher_is_better=False,
    ),
]

METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}


def metric(name: str) -> Metric:
    """Look up a metric by its glossary name; the error lists the valid names."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}") from None
