"""Experiments with known lift: a randomized user holdout and a geo spend-up test.

- holdout: users split test/control during the holdout period (see :mod:`.journeys`); measured =
  difference in conversion rates x test users, from the simulated Bernoulli draws, with its
  binomial standard error; true = the model's expected incremental conversions of the test users,
  ``sum_test P(convert) - P(convert with exposed_channel = 0)``.
- geo test: campaigns of ``geo_test_channel`` in the test geos spend ``1 + geo_test_lift`` times
  their plan for ``geo_test_weeks`` weeks. True = the exact extra contribution (adstock carry-over
  included) over the measurement window (test weeks + 2 cooldown weeks); measured = true +
  N(0, SE) with ``SE = sqrt(2 * window_days * sum_{test geos} noise_sd^2)`` (a difference in
  differences against an equally noisy control). With one national geo the test geos are the
  campaigns' target countries (synthetic geos) and the noise is the national noise scaled by the
  test countries' weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spendlab.simulate.campaigns import Catalog
from spendlab.simulate.config import SimConfig
from spendlab.simulate.geo import target_countries

COOLDOWN_DAYS = 14


def _dates(cfg: SimConfig, lo: int, hi: int) -> dict[str, str]:
    """ISO first and last (inclusive) day of a ``[lo, hi)`` day window."""
    d0 = np.datetime64(cfg.start, "D")
    return {"start": str(d0 + lo), "end": str(d0 + hi - 1)}


@dataclass
class GeoTestPlan:
    spec: str
    countries: list[str]  # test geos (countries)
    start_day: int
    end_day: int  # exclusive
    lift: float
    campaigns: np.ndarray  # bool mask of boosted campaigns

    def boost(self, days: int) -> np.ndarray:
        """Spend multiplier (campaigns x days)."""
        on = np.zeros(days, dtype=bool)
        on[self.start_day : self.end_day] = True
        return 1.0 + self.lift * (self.campaigns[:, None] & on[None, :])

    @property
    def window_end(self) -> int:
        return self.end_day + COOLDOWN_DAYS


def plan_geo_test(cfg: SimConfig, catalog: Catalog) -> GeoTestPlan | None:
    """Pick test geos and a window; ``None`` without campaigns to test or time to test them."""
    rng = cfg.rng("geo_test")
    tab = catalog.table
    in_spec = (tab["spec"] == cfg.geo_test_channel).to_numpy()
    length = 7 * cfg.geo_test_weeks
    if not in_spec.any() or cfg.days < length + COOLDOWN_DAYS + 14:
        return None
    present = sorted(set(tab.loc[in_spec, "country"]))
    k = max(1, len(present) // 2)
    chosen = sorted(rng.choice(present, size=k, replace=False).tolist())
    start = cfg.days - length - COOLDOWN_DAYS - 7
    start -= (np.datetime64(cfg.start, "D").astype(np.int64) + 3 + start) % 7  # a Monday
    start = int(max(0, start))
    mask = in_spec & tab["country"].isin(chosen).to_numpy()
    return GeoTestPlan(cfg.geo_test_channel, chosen, start, start + length, cfg.geo_test_lift, mask)


def geo_test_result(
    cfg: SimConfig,
    plan: GeoTestPlan,
    contribution: np.ndarray,
    counterfactual: np.ndarray,
    spend: np.ndarray,
    spend_cf: np.ndarray,
    noise_sd: np.ndarray,
    geos: list[str],
) -> dict:
    """True and measured incremental revenue of the geo test.

    ``counterfactual`` holds the contributions of the boosted campaigns without the boost
    (rows aligned with ``plan.campaigns``)."""
    lo, hi = plan.start_day, min(plan.window_end, cfg.days)
    rows = np.flatnonzero(plan.campaigns)
    true_inc = float((contribution[rows, lo:hi] - counterfactual[:, lo:hi]).sum())
    inc_spend = float((spend[rows, lo:hi] - spend_cf[rows, lo:hi]).sum())
    if cfg.geos > 1:
        var = float(sum(noise_sd[geos.index(g)] ** 2 for g in plan.countries))
    else:
        names, w = target_countries(1)
        share = float(sum(w[names.index(g)] for g in plan.countries if g in names))
        var = float(noise_sd[0] ** 2 * share)
    se = float(np.sqrt(2.0 * (hi - lo) * var))
    measured = true_inc + float(cfg.rng("geo_test").normal(0.0, 1.0, 2)[1]) * se
    base = float(counterfactual[:, lo:hi].sum())
    return {
        "experiment_id": "geo_test_1",
        "kind": "geo_test",
        "channel": plan.spec,
        **_dates(cfg, lo, hi),
        "start_day": lo,
        "end_day": hi,
        "spend_change_end": _dates(cfg, lo, plan.end_day)["end"],
        "kpi": "revenue",
        "geos": plan.countries,
        "synthetic_geos": cfg.geos == 1,
        "spend_lift": plan.lift,
        "measured_incremental": measured,
        "standard_error": se,
        "true_incremental": true_inc,
        "incremental_spend": inc_spend,
        "true_iroas": true_inc / inc_spend if inc_spend > 0 else None,
        "true_relative_lift": true_inc / base if base > 0 else None,
        "campaigns": int(rows.size),
    }


def holdout_result(cfg: SimConfig, users, effects: dict[str, float], b0: float, window) -> dict:
    """Measured (difference in means) and true incremental conversions of the test group."""
    from spendlab.simulate.journeys import sigmoid

    ch = cfg.holdout_channel
    test = (users["group"] == "test").to_numpy()
    ctrl = (users["group"] == "control").to_numpy()
    conv = users["converted"].to_numpy()
    n_t, n_c = int(test.sum()), int(ctrl.sum())
    eff = effects.get(ch, 0.0)
    flag_col = f"exposed_{ch}"
    p = users["p"].to_numpy()
    flag = users[flag_col].to_numpy() if flag_col in users else np.zeros(len(users), dtype=bool)
    p_without = sigmoid(np.log(p / (1 - p)) - eff * flag)
    true_inc = float((p - p_without)[test].sum())
    if n_t and n_c:
        rt, rc = conv[test].mean(), conv[ctrl].mean()
        measured = float((rt - rc) * n_t)
        se = float(n_t * np.sqrt(rt * (1 - rt) / n_t + rc * (1 - rc) / n_c))
    else:
        measured, se = float("nan"), float("nan")
    expected_test = float(p[test].sum())
    return {
        "experiment_id": "holdout_1",
        "kind": "holdout",
        "channel": ch,
        **_dates(cfg, int(window[0]), int(window[1])),
        "start_day": int(window[0]),
        "end_day": int(window[1]),
        "kpi": "conversions",
        "geos": [],
        "test_users": n_t,
        "control_users": n_c,
        "measured_incremental": measured,
        "standard_error": se,
        "true_incremental": true_inc,
        "incremental_spend": None,
        "true_iroas": None,
        "true_relative_lift": true_inc / (expected_test - true_inc)
        if expected_test > true_inc
        else None,
    }
