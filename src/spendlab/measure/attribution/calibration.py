"""Incrementality calibration and money: attribution credit is not incremental effect.

Attribution splits the conversions that happened among the touches seen before them; a channel that
only shows up right before conversions that would have happened anyway (retargeting, brand search)
gets credit it did not cause. :func:`calibrate` caps each channel's credit at what a causal
measurement says it caused and moves the rest to a ``(baseline)`` bucket ("would have converted
anyway"):

- from a lift test: ``incremental_conversions[c]`` measured over the same period and population
  gives the factor ``f_c = min(1, incremental_c / credited_c)``;
- from an MMM or experiment iROAS: incremental value ``iroas_c * spend_c`` gives
  ``f_c = min(1, iroas_c * spend_c / credited_value_c)``.

Calibrated credit is ``f_c * credit_c`` (conversions, value and interval bounds alike); the
``(baseline)`` row holds the difference, so totals still add up. Channels without a measurement
keep ``f_c = 1``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from spendlab.data.metrics import policy, ratio_array
from spendlab.errors import ConfigError

BASELINE = "(baseline)"
_SCALED = ("conversions", "value", "conversions_lo", "conversions_hi", "value_lo", "value_hi")


def calibrate(
    credits: pd.DataFrame,
    *,
    incremental_conversions: Mapping[str, float] | None = None,
    iroas: Mapping[str, float] | None = None,
    spend: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Calibrated credits plus a ``(baseline)`` row. Adds ``factor`` and
    ``uncalibrated_conversions``; ``share`` is recomputed over the total (baseline included)."""
    incremental_conversions = dict(incremental_conversions or {})
    iroas = dict(iroas or {})
    if iroas and spend is None:
        raise ConfigError("iroas calibration needs spend per channel (spend={channel: amount})")
    known = set(credits["channel"])
    for name, table in (("incremental_conversions", incremental_conversions), ("iroas", iroas)):
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(
                f"{name} names channel(s) {', '.join(unknown)} not in the credits "
                f"({', '.join(sorted(known))})"
            )
        bad = {k: v for k, v in table.items() if not (np.isfinite(v) and v >= 0)}
        if bad:
            raise ConfigError(f"{name} must be finite and >= 0; got {bad}")
    out = credits.copy()
    factor = np.ones(len(out))
    for i, row in enumerate(out.itertuples(index=False)):
        ch = row.channel
        if ch in incremental_conversions and row.conversions > 0:
            factor[i] = min(1.0, incremental_conversions[ch] / row.conversions)
        elif ch in iroas and row.value > 0:
            factor[i] = min(1.0, iroas[ch] * float(spend.get(ch, 0.0)) / row.value)  # type: ignore[union-attr]
        elif ch in iroas:  # credited no value: keep the credit only if the channel adds value
            factor[i] = 1.0 if iroas[ch] * float(spend.get(ch, 0.0)) > 0 else 0.0  # type: ignore[union-attr]
    out["uncalibrated_conversions"] = out["conversions"]
    out["factor"] = factor
    for col in _SCALED:
        if col in out:
            out[col] = out[col] * factor
    base = {
        "channel": BASELINE,
        "conversions": credits["conversions"].sum() - out["conversions"].sum(),
        "value": credits["value"].sum() - out["value"].sum(),
        "uncalibrated_conversions": 0.0,
        "factor": np.nan,
    }
    out = pd.concat([out, pd.DataFrame([base])], ignore_index=True)
    total = out["conversions"].sum()
    out["share"] = out["conversions"] / total if total > 0 else 0.0
    return out.drop(columns=[c for c in ("share_lo", "share_hi") if c in out])


def channel_spend(source: object, *, granularity: str = "channel") -> pd.DataFrame:
    """Spend per channel (or campaign) from ``ad_performance``, in the warehouse.

    ``ad_performance`` has no channel column: campaigns map to channels through the
    ``touchpoints`` table (distinct campaign -> channel pairs, by campaign name). Spend reported
    at several levels (campaign, keyword, ad rows) counts once per day
    (:func:`spendlab.data.spend.count_once` at campaign level). ``source`` is a warehouse or an
    ``(ad_performance, touchpoints)`` pair of tables. Returns columns ``channel`` and ``spend``.
    """
    import ibis

    from spendlab.data.spend import count_once

    if isinstance(source, tuple):
        ap, tp = source
    else:
        ap, tp = source.table("ad_performance"), source.table("touchpoints")  # type: ignore[attr-defined]
    rows = count_once(ap, "campaign")
    per_campaign = rows.group_by("campaign_name").aggregate(spend=rows.spend.sum())
    pairs = tp.select("channel", "campaign").distinct()
    j = per_campaign.join(pairs, per_campaign.campaign_name == pairs.campaign)
    if granularity == "campaign":
        out = j.select(
            channel=ibis.ifelse(j.campaign == "", j.channel, j.channel.concat(": ", j.campaign)),
            spend=j.spend,
        )
    else:
        out = j.group_by("channel").aggregate(spend=j.spend.sum())
    return out.to_pandas()


def money(credits: pd.DataFrame, spend: pd.DataFrame | Mapping[str, float]) -> pd.DataFrame:
    """Add ``spend``, ``cpa`` (spend / conversions) and ``roas`` (value / spend) to credits, with
    ``cpa_lo``/``cpa_hi``/``roas_lo``/``roas_hi`` when the credits carry intervals (spend is
    treated as known). Zero denominators follow the glossary's policy
    (:func:`spendlab.data.metrics.ratio_array`): CPA with spend and no conversions is +inf;
    ROAS with no spend is NaN (undefined)."""
    if isinstance(spend, pd.DataFrame):
        spend = dict(zip(spend["channel"], spend["spend"], strict=True))
    out = credits.copy()
    s = out["channel"].map(lambda c: float(spend.get(c, 0.0))).to_numpy()
    out["spend"] = s
    cpa, roas = policy("cpa"), policy("roas")
    out["cpa"] = ratio_array(s, out["conversions"].to_numpy(), cpa)
    out["roas"] = ratio_array(out["value"].to_numpy(), s, roas)
    if "conversions_lo" in out:
        out["cpa_lo"] = ratio_array(s, out["conversions_hi"].to_numpy(), cpa)
        out["cpa_hi"] = ratio_array(s, out["conversions_lo"].to_numpy(), cpa)
        out["roas_lo"] = ratio_array(out["value_lo"].to_numpy(), s, roas)
        out["roas_hi"] = ratio_array(out["value_hi"].to_numpy(), s, roas)
    return out
