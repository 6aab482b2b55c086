"""Ground truth of a simulated market as one JSON-serialisable dict (``truth.json``).

Every field is documented in docs/simulate.md. Large per-row truth goes to CSV files written
beside it (``truth_daily.csv``, ``truth_campaign_daily.csv``, ``truth_customers.csv``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from spendlab.core.jsonsafe import jsonable
from spendlab.simulate.geo import geo_weights

if TYPE_CHECKING:
    from spendlab.simulate.simulation import Market

TRUTH_VERSION = 1


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 else None


def build_truth(m: Market) -> dict:
    cfg = m.config
    tab = m.catalog.table
    params = m.catalog.params
    o = m.outcome
    spend_c = m.spend.sum(axis=1)
    contrib_c = m.contributions.sum(axis=1)
    reported_c = m.reported_value.sum(axis=1)
    alloc = m.allocation
    actual, optimal = alloc["actual"], alloc["spend"]
    marg_actual, marg_opt = params.marginal(actual), params.marginal(optimal)
    campaigns = {}
    for i, row in enumerate(tab.itertuples(index=False)):
        ad, sat = params.describe(i)
        campaigns[row.campaign_id] = {
            "name": row.campaign_name,
            "spec": row.spec,
            "channel": row.channel,
            "platform": row.platform,
            "campaign_type": row.campaign_type,
            "account_id": row.account_id,
            "country": row.country,
            "geo": o.geos[m.geo_index()[i]],
            "lifecycle_stage": row.lifecycle_stage,
            "theme": row.theme,
            "incremental": bool(row.incremental),
            "adstock": ad,
            "saturation": sat,
            "beta": float(params.beta[i]),
            "spend": float(spend_c[i]),
            "contribution": float(contrib_c[i]),
            "iroas": _ratio(contrib_c[i], spend_c[i]),
            "reported_value": float(reported_c[i]),
            "platform_roas": _ratio(reported_c[i], spend_c[i]),
            "overclaim": float(row.overclaim) if row.incremental else None,
            "base_spend": float(row.base_spend),
            "mean_daily_spend": float(actual[i]),
            "mroas_at_mean_spend": float(marg_actual[i]),
            "optimal_daily_spend": float(optimal[i]),
        }
    channels = {}
    for s in cfg.channels:
        mask = (tab["spec"] == s.name).to_numpy()
        sp, co, rv = spend_c[mask].sum(), contrib_c[mask].sum(), reported_c[mask].sum()
        channels[s.name] = {
            "channel": s.channel, "platform": s.platform, "campaign_type": s.campaign_type,
            "level": s.level, "incremental": s.incremental, "campaigns": int(mask.sum()),
            "spend": float(sp), "contribution": float(co), "iroas": _ratio(co, sp),
            "reported_value": float(rv), "platform_roas": _ratio(rv, sp),
            "campaign_ids": tab.loc[mask, "campaign_id"].tolist(),
        }  # fmt: skip
    media_channels = {}
    for ch, grp in tab.groupby("channel", sort=False).groups.items():
        idx = np.asarray(list(grp))
        sp, co = spend_c[idx].sum(), contrib_c[idx].sum()
        media_channels[ch] = {"spend": float(sp), "contribution": float(co),
                              "iroas": _ratio(co, sp)}  # fmt: skip
    act_out = float(params.response(actual).sum())
    interior = alloc["status"] == "interior"
    allocation = {
        "budget": alloc["budget"],
        "curve": "steady state: daily contribution = beta * saturation(s) at constant spend s",
        "method": "water-filling (bisection on the common marginal return) on concave envelopes",
        "actual_outcome": act_out,
        "optimal_outcome": alloc["outcome"],
        "envelope_outcome": alloc["envelope_outcome"],
        "gain": alloc["outcome"] - act_out,
        "multiplier": alloc["multiplier"],
        "interior_campaigns": int(interior.sum()),
        "campaigns": {
            cid: {"actual": float(actual[i]), "optimal": float(optimal[i]),
                  "status": str(alloc["status"][i]), "marginal_actual": float(marg_actual[i]),
                  "marginal_optimal": float(marg_opt[i]), "s_shaped": bool(alloc["s_shaped"][i]),
                  "tangent_spend": float(alloc["tangent"][i])}
            for i, cid in enumerate(tab["campaign_id"])
        },
    }  # fmt: skip
    controls_total = {k: float(v.sum()) for k, v in o.controls.items()}
    totals = {
        "revenue": float(o.revenue.sum()),
        "conversions": float(o.revenue.sum() / cfg.aov),
        "baseline": float(o.baseline.sum()),
        "trend": float(o.trend.sum()),
        "seasonality": float(o.seasonality.sum()),
        "holidays": float(o.holidays.sum()),
        "demand": float(o.demand.sum()),
        "controls": float(o.controls_total.sum()),
        "media": float(o.media.sum()),
        "noise": float(o.noise.sum()),
        "spend": float(spend_c.sum()),
    }
    w = geo_weights(cfg.geos)
    geos = [
        {"geo": g, "population_weight": float(w[k]), "baseline_level": float(o.level[k]),
         "noise_sd": float(o.noise_sd[k]), "revenue": float(o.revenue[k].sum()),
         "baseline": float(o.baseline[k].sum()), "media": float(o.media[k].sum())}
        for k, g in enumerate(o.geos)
    ]  # fmt: skip
    truth = {
        "version": TRUTH_VERSION,
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "period": {
            "start": str(m.dates[0].date()),
            "end": str(m.dates[-1].date()),
            "days": cfg.days,
        },  # fmt: skip
        "currency": cfg.currency,
        "kpi": {
            "revenue": "outcomes kpi 'revenue'",
            "conversions": f"outcomes kpi 'conversions' = revenue / {cfg.aov}",
        },  # fmt: skip
        "aov": cfg.aov,
        "identity": "revenue = baseline + controls + media + noise; "
        "baseline = trend + seasonality + holidays + demand (per geo and day, see "
        "truth_daily.csv; demand is 0 without demand shocks)",
        "totals": totals,
        "baseline": {
            "total": totals["baseline"],
            "level": float(o.level.sum()),
            **m.shape.params,
            "holidays": m.shape.events,
        },
        "controls": {
            k: {**m.outcome.control_params[k], "total_effect": controls_total.get(k, 0.0)}
            for k in m.outcome.control_params
        },
        "geos": geos,
        "channels": channels,
        "media_channels": media_channels,
        "campaigns": campaigns,
        "allocation": allocation,
        "journeys": m.journeys.truth,
        "experiments": m.experiments,
        "crm": m.crm.truth,
        "confounding": cfg.confounding,
        "demand_shocks": cfg.demand_shocks,
        "files": {
            "truth_daily.csv": "date, geo and every outcome component",
            "truth_campaign_daily.csv": "date, campaign_id, spend, true contribution, "
            "platform-reported value",
            "truth_customers.csv": "per-customer BG/NBD + Gamma-Gamma truth",
            "experiments.csv": "experiments with measured and true incremental outcome",
        },
    }
    return jsonable(truth)
