"""CRM customers and orders from known BG/NBD and Gamma-Gamma behaviour.

Each customer is acquired (first order) at a time drawn in proportion to daily revenue. Then:

- purchase rate ``lambda ~ Gamma(r, scale=1/alpha)`` per day; repeat purchases follow a Poisson
  process while the customer is alive;
- after every *repeat* purchase the customer drops out with probability ``p ~ Beta(a, b)`` (BG/NBD:
  the number of repeats before dropping out is ``J ~ Geometric(p)`` on 1, 2, ...);
- order values ``z ~ Gamma(p_gg, scale=1/nu)`` with ``nu ~ Gamma(q, scale=1/gamma)``: mean spend
  ``p_gg / nu`` (Gamma-Gamma).

Per-customer truth (``truth_customers.csv``): ``lambda``, ``p``, ``mean_spend``, whether the
customer is still alive at the end, the history summary (``x`` repeats, ``t_x``, ``T`` in days),
``prob_alive`` given the history and the true ``lambda, p``
(``1 / (1 + p/(1-p) * exp(lambda (T - t_x)))`` for ``x > 0``, else 1), and

    expected_purchases_90d = prob_alive * (1 - exp(-lambda p 90)) / p

(the best prediction anyone knowing the true parameters could make), the same given the true
alive state, and the purchases the customer then actually makes in the next 90 days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spendlab.simulate.config import SimConfig
from spendlab.simulate.geo import target_countries

HORIZON = 90.0
OTHER_CHANNELS = {"organic_search": 0.2, "direct": 0.15, "email": 0.05}
REPEAT_CHANNELS = ("direct", "email", "organic_search", "paid_search")


@dataclass
class CRM:
    customers: pd.DataFrame
    orders: pd.DataFrame
    truth_customers: pd.DataFrame
    truth: dict


def simulate_crm(cfg: SimConfig, daily_revenue: np.ndarray, channel_spend: dict[str, float]) -> CRM:
    rng = cfg.rng("crm")
    n, days = cfg.customers, cfg.days
    w = np.maximum(daily_revenue, 0.0) + 1e-9
    first = rng.choice(days, size=n, p=w / w.sum()) + rng.random(n)
    T = days - first
    lam = rng.gamma(cfg.crm_r, 1.0 / cfg.crm_alpha, n)
    p = np.clip(rng.beta(cfg.crm_a, cfg.crm_b, n), 1e-6, 1 - 1e-6)
    nu = rng.gamma(cfg.crm_q, 1.0 / cfg.crm_gamma, n)
    J = rng.geometric(p)
    N = np.minimum(rng.poisson(lam * T), 10_000)
    x = np.minimum(N, J)
    alive = J > N
    # repeat purchase times: the first x of N sorted uniforms on (0, T)
    cust = np.repeat(np.arange(n), N)
    u = rng.random(cust.size)
    order = np.lexsort((u, cust))
    cust, u = cust[order], u[order]
    starts = np.concatenate([[0], np.cumsum(N)[:-1]])
    rank = np.arange(cust.size) - starts[cust]
    keep = rank < x[cust]
    rep_cust = cust[keep]
    rep_time = first[rep_cust] + u[keep] * T[rep_cust]
    t_x = np.zeros(n)
    if rep_cust.size:
        np.maximum.at(t_x, rep_cust, rep_time - first[rep_cust])
    with np.errstate(over="ignore"):
        prob_alive = np.where(x > 0, 1.0 / (1.0 + p / (1 - p) * np.exp(lam * (T - t_x))), 1.0)
    per_alive = (1.0 - np.exp(-lam * p * HORIZON)) / p
    future = np.where(alive, np.minimum(rng.poisson(lam * HORIZON), J - N), 0)
    mean_spend = cfg.crm_p / nu
    # orders: the first purchase and the repeats
    o_cust = np.concatenate([np.arange(n), rep_cust])
    o_time = np.concatenate([first, rep_time])
    value = np.round(rng.gamma(cfg.crm_p, 1.0 / nu[o_cust]), 2)
    srt = np.lexsort((o_cust, o_time))
    o_cust, o_time, value = o_cust[srt], o_time[srt], value[srt]
    # acquisition channels: media channels by spend share, plus organic ones
    media = {c: v for c, v in channel_spend.items() if v > 0}
    tot = sum(media.values()) or 1.0
    mix = {c: 0.6 * v / tot for c, v in media.items()} | OTHER_CHANNELS
    names = list(mix)
    probs = np.array([mix[c] for c in names])
    acq = np.array(names, dtype=object)[rng.choice(len(names), size=n, p=probs / probs.sum())]
    cnames, cw = target_countries(cfg.geos)
    country = np.array(cnames, dtype=object)[rng.choice(len(cnames), size=n, p=cw)]
    ids = np.array([f"C{1_000_000 + i}" for i in range(n)], dtype=object)
    epoch0 = np.datetime64(cfg.start, "s")

    def ts(t: np.ndarray) -> np.ndarray:
        return (epoch0 + np.round(t * 86400.0).astype(np.int64).astype("timedelta64[s]")).astype(
            "datetime64[ns]"
        )

    first_order = np.isin(np.arange(o_cust.size), _first_index(o_cust, o_time, n))
    repeat_ch = np.array(REPEAT_CHANNELS, dtype=object)[rng.integers(0, 4, o_cust.size)]
    orders = pd.DataFrame(
        {
            "order_id": [f"O{5_000_000 + i}" for i in range(o_cust.size)],
            "customer_id": ids[o_cust],
            "timestamp": ts(o_time),
            "value": value,
            "currency": cfg.currency,
            "items": 1 + rng.poisson(value / 60.0),
            "channel": np.where(first_order, acq[o_cust], repeat_ch),
            "country": country[o_cust],
        }
    )
    cut = float(np.median(mean_spend)) if n else 0.0
    segment = np.where(mean_spend > cut, "high_value", "standard")
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "first_seen": ts(first),
            "country": country,
            "acquisition_channel": acq,
            "attributes": [f'{{"segment": "{s}"}}' for s in segment],
        }
    )
    truth_c = pd.DataFrame(
        {
            "customer_id": ids,
            "lambda": lam,
            "p": p,
            "nu": nu,
            "mean_spend": mean_spend,
            "alive": alive,
            "x": x,
            "t_x": t_x,
            "T": T,
            "prob_alive": prob_alive,
            "expected_purchases_90d": prob_alive * per_alive,
            "expected_purchases_90d_given_state": alive * per_alive,
            "future_purchases_90d": future,
            "expected_value_90d": prob_alive * per_alive * mean_spend,
        }
    )
    truth = {
        "model": "BG/NBD purchases + Gamma-Gamma spend",
        "params": {
            "r": cfg.crm_r, "alpha": cfg.crm_alpha, "a": cfg.crm_a, "b": cfg.crm_b,
            "p": cfg.crm_p, "q": cfg.crm_q, "gamma": cfg.crm_gamma,
        },
        "time_unit": "day",
        "horizon_days": HORIZON,
        "customers": n,
        "orders": int(o_cust.size),
        "alive_at_end": int(alive.sum()),
        "expected_purchases_90d_total": float((prob_alive * per_alive).sum()),
        "file": "truth_customers.csv",
    }  # fmt: skip
    return CRM(customers, orders, truth_c, truth)


def _first_index(o_cust: np.ndarray, o_time: np.ndarray, n: int) -> np.ndarray:
    """Index of each customer's earliest order (orders sorted by time)."""
    seen = np.full(n, -1)
    idx = np.arange(o_cust.size)[::-1]
    seen[o_cust[idx]] = idx  # later writes (earlier orders) win
    return seen[seen >= 0]
