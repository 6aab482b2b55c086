"""User journeys with a known incremental model, and the retargeting attribution trap.

Each user has an active window ``[t0, t_end]`` (``t0`` on a day drawn in proportion to media
spend, 0.5 to 10 days long) and an activity level ``a ~ Gamma(2, 1/2)``. From every incremental
channel spec ``s`` the user gets ``n ~ Poisson(a * exposures_per_user * share_s * spend_s[day] /
mean(spend_s))`` clicks, each on a campaign drawn in proportion to its spend that day. Then

    logit P(convert) = b0 + sum_c effect_c * exposed_c       (b0 = logit(base_conversion_rate))

over the media channels ``c`` (a channel is exposed when any of its specs gave a click). A converter
converts at ``t_end``. Retargeting is decided *after* the conversion draw: a share
``retargeting_before_conversion`` of converters get a retargeting click minutes to hours before
converting, and a share ``retargeting_non_converters`` of the others one click in their window. So
retargeting has no causal effect (its effect is exactly 0) yet is often the last touch.

The randomized holdout: users whose window starts in the holdout period are split test/control;
control users' clicks from ``holdout_channel`` are suppressed (ghost ads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spendlab.simulate.campaigns import Catalog
from spendlab.simulate.config import SimConfig


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


@dataclass
class Journeys:
    touchpoints: pd.DataFrame
    conversions: pd.DataFrame
    users: pd.DataFrame  # per user: exposure flags, p, converted, holdout group
    channels: list[str]  # incremental media channels of the model
    effects: dict[str, float]  # log-odds effect per channel (retargeting: 0)
    b0: float
    holdout: dict  # holdout window (days) and channel
    truth: dict


def holdout_window(cfg: SimConfig) -> tuple[int, int]:
    """Holdout period (day offsets, end exclusive): the ``holdout_weeks`` weeks ending 3 weeks
    before the end (or the whole period when it is too short)."""
    length = 7 * cfg.holdout_weeks
    end = cfg.days - 21
    start = end - length
    if start < 0:
        return 0, cfg.days
    return start, end


def choose_campaigns(rng: np.random.Generator, spend: np.ndarray, day: np.ndarray) -> np.ndarray:
    """For each event on ``day[i]``, a campaign (row of ``spend``) drawn by that day's spend
    (by total spend when the day had none). Vectorized with one cumulative sum."""
    n_c, n_t = spend.shape
    if n_c == 1 or day.size == 0:
        return np.zeros(day.size, dtype=int)
    daily = spend.sum(axis=0)
    totals = spend.sum(axis=1)
    flat = np.cumsum(spend.T.ravel())  # day-major
    before = np.concatenate([[0.0], flat])[np.arange(n_t) * n_c]
    u = rng.random(day.size)
    has = daily[day] > 0
    target = before[day] + u * daily[day]
    idx = np.minimum(np.searchsorted(flat, target, side="right"), flat.size - 1)
    pick = idx % n_c
    # guard: never pick a campaign with zero spend that day (float ties at segment ends)
    bad = has & (spend[pick, day] <= 0)
    pick[bad] = np.argmax(spend[:, day[bad]], axis=0)
    cum = np.cumsum(totals) / totals.sum()
    pick[~has] = np.minimum(np.searchsorted(cum, u[~has], side="right"), n_c - 1)
    return pick


def simulate_journeys(cfg: SimConfig, catalog: Catalog, spend: np.ndarray) -> Journeys:
    rng = cfg.rng("journeys")
    rng_h = cfg.rng("holdout")
    tab = catalog.table
    specs = cfg.channels
    n_u, n_t = cfg.users, cfg.days
    inc_specs = [i for i, s in enumerate(specs) if s.incremental]
    rt_specs = [i for i, s in enumerate(specs) if not s.incremental]
    channels = list(dict.fromkeys(specs[i].channel for i in inc_specs))
    rt_channels = list(dict.fromkeys(specs[i].channel for i in rt_specs))
    effects = {c: next(specs[i].journey_effect for i in inc_specs if specs[i].channel == c)
               for c in channels}  # fmt: skip
    effects.update({c: 0.0 for c in rt_channels if c not in effects})
    spec_daily = np.zeros((len(specs), n_t))
    np.add.at(spec_daily, catalog.spec_index, spend)
    inc_daily = spec_daily[inc_specs].sum(axis=0)
    # users
    activity = rng.gamma(2.0, 0.5, n_u)
    p_day = 0.5 * inc_daily.mean() + inc_daily
    day = rng.choice(n_t, size=n_u, p=p_day / p_day.sum())
    t0 = day + rng.random(n_u)
    t_end = np.minimum(t0 + rng.uniform(0.5, 10.0, n_u), n_t - 1e-4)
    h_start, h_end = holdout_window(cfg)
    in_exp = (day >= h_start) & (day < h_end)
    control = in_exp & (rng_h.random(n_u) < cfg.holdout_fraction)
    group = np.where(in_exp, np.where(control, "control", "test"), "")
    # exposures of incremental specs
    total_inc = max(inc_daily.sum(), 1e-9)
    ev_user, ev_spec, ev_camp = [], [], []
    exposed = {c: np.zeros(n_u, dtype=bool) for c in channels}
    for si in inc_specs:
        s = specs[si]
        sd = spec_daily[si]
        if sd.sum() <= 0:
            continue
        rate = cfg.exposures_per_user * sd.sum() / total_inc * sd[day] / sd.mean()
        n = rng.poisson(activity * rate)
        if s.channel == cfg.holdout_channel:
            n[control] = 0
        exposed[s.channel] |= n > 0
        users = np.repeat(np.arange(n_u), n)
        camp_rows = np.flatnonzero(catalog.spec_index == si)
        local = choose_campaigns(rng, spend[camp_rows], day[users])
        ev_user.append(users)
        ev_spec.append(np.full(users.size, si))
        ev_camp.append(camp_rows[local])
    b0 = logit(cfg.base_conversion_rate)
    eta = b0 + sum(effects[c] * exposed[c] for c in channels)
    p = sigmoid(eta)
    converted = rng.random(n_u) < p
    inc_users = np.concatenate(ev_user) if ev_user else np.zeros(0, dtype=int)
    times = t0[inc_users] + rng.random(inc_users.size) * (t_end - t0)[inc_users]
    # retargeting clicks, placed after the conversion draw (zero causal effect)
    rt_rows = np.flatnonzero(np.isin(catalog.spec_index, rt_specs))
    rt_user = np.zeros(0, dtype=int)
    rt_time = np.zeros(0)
    if rt_rows.size:
        shown_conv = converted & (rng.random(n_u) < cfg.retargeting_before_conversion)
        shown_non = ~converted & (rng.random(n_u) < cfg.retargeting_non_converters)
        uc = np.flatnonzero(shown_conv)
        uc = np.repeat(uc, 1 + rng.poisson(0.3, uc.size))
        before = np.clip(rng.exponential(2.0 / 24.0, uc.size), 1.0 / 1440.0, None)
        un = np.flatnonzero(shown_non)
        rt_user = np.concatenate([uc, un])
        rt_time = np.concatenate(
            [np.maximum(t_end[uc] - before, 0.0), t0[un] + rng.random(un.size) * (t_end - t0)[un]]
        )
        rt_camp = rt_rows[
            choose_campaigns(rng, spend[rt_rows], np.minimum(rt_time, n_t - 1).astype(int))
        ]
    else:
        rt_camp = np.zeros(0, dtype=int)
    all_user = np.concatenate([inc_users, rt_user]).astype(int)
    all_time = np.concatenate([times, rt_time])
    all_camp = np.concatenate(ev_camp + [rt_camp]).astype(int) if all_user.size else all_user
    frames = _frames(cfg, rng, tab, all_user, all_time, all_camp, converted, t0, t_end)
    touchpoints, conversions, user_ids = frames
    users = pd.DataFrame({"user_id": user_ids, "day": day, "group": group, "p": p,
                          "converted": converted, "t_end": t_end})  # fmt: skip
    for c in channels:
        users[f"exposed_{c}"] = exposed[c]
    holdout = {"channel": cfg.holdout_channel, "start_day": h_start, "end_day": h_end}
    truth = _truth(cfg, users, channels, effects, b0, touchpoints, conversions, rt_channels)
    return Journeys(touchpoints, conversions, users, channels, effects, b0, holdout, truth)


def _frames(cfg, rng, tab, user, time, camp, converted, t0, t_end):
    """Touchpoint and conversion frames (timestamps rounded to the second). User ids look like
    GA4's ``user_pseudo_id``: ``<random number>.<epoch second of the first visit>``."""
    epoch0 = np.datetime64(cfg.start, "s")
    uid_num = 1_000_000_000 + np.cumsum(rng.integers(1, 90_000, t0.size))
    first = epoch0.astype(np.int64) + np.floor(t0 * 86400.0).astype(np.int64)
    user_ids = np.array([f"{a}.{b}" for a, b in zip(uid_num, first, strict=True)], dtype=object)
    secs = np.round(time * 86400.0).astype(np.int64)
    ts = epoch0 + secs.astype("timedelta64[s]")
    spec_of = tab["spec"].to_numpy()[camp]
    spec_map = {s.name: s for s in cfg.channels}
    tp = pd.DataFrame(
        {
            "user_id": user_ids[user],
            "timestamp": ts.astype("datetime64[ns]"),
            "channel": tab["channel"].to_numpy()[camp],
            "campaign": tab["campaign_name"].to_numpy()[camp],
            "interaction_type": "click",
            "source": [spec_map[s].source for s in spec_of] if camp.size else [],
            "medium": [spec_map[s].medium for s in spec_of] if camp.size else [],
            "session_id": (epoch0.astype(np.int64) + secs).astype(str),
        }
    )
    tp = tp.sort_values(["user_id", "timestamp"], kind="stable")
    tp = tp.drop_duplicates(["user_id", "timestamp", "channel", "campaign", "interaction_type"])
    tp = _one_per_second(tp.reset_index(drop=True))
    conv_u = np.flatnonzero(converted)
    conv_secs = np.round(t_end[conv_u] * 86400.0).astype(np.int64)
    conversions = pd.DataFrame(
        {
            "user_id": user_ids[conv_u],
            "timestamp": (epoch0 + conv_secs.astype("timedelta64[s]")).astype("datetime64[ns]"),
            "conversion_id": [f"T{100000 + i}" for i in range(conv_u.size)],
            "event": "purchase",
            "value": np.round(rng.gamma(4.0, cfg.aov / 4.0, conv_u.size), 2),
            "currency": cfg.currency,
        }
    )
    return tp, conversions, user_ids


def _truth(cfg, users, channels, effects, b0, touchpoints, conversions, rt_channels) -> dict:
    """Exact expected incremental conversions by removal, and realized last-touch credit."""
    eta = np.full(len(users), b0)
    for c in channels:
        eta = eta + effects[c] * users[f"exposed_{c}"].to_numpy()
    p = sigmoid(eta)
    out: dict = {
        "model": "logit P(convert) = b0 + sum_c effect_c * exposed_c",
        "b0": b0,
        "users": int(len(users)),
        "expected_conversions": float(p.sum()),
        "expected_conversions_without_media": float(sigmoid(np.full(len(users), b0)).sum()),
        "realized_conversions": int(users["converted"].sum()),
        "incremental_definition": "sum over users of P(convert) - P(convert with exposed_c = 0)",
        "channels": {},
    }
    last = _last_touch(touchpoints, conversions)
    n_conv = max(len(conversions), 1)
    for c in list(channels) + [c for c in rt_channels if c not in channels]:
        if c in channels:
            flag = users[f"exposed_{c}"].to_numpy()
            p_without = sigmoid(eta - effects[c] * flag)
            inc = float((p - p_without).sum())
            n_exp = int(flag.sum())
        else:
            inc, n_exp = 0.0, int(touchpoints.loc[touchpoints["channel"] == c, "user_id"].nunique())
        lt = int((last == c).sum())
        out["channels"][c] = {
            "effect": float(effects.get(c, 0.0)),
            "exposed_users": n_exp,
            "incremental_conversions": inc,
            "last_touch_conversions": lt,
            "last_touch_share": lt / n_conv,
        }
    out["last_touch_none"] = int((last == "").sum())
    return out


def _one_per_second(tp: pd.DataFrame) -> pd.DataFrame:
    """A user's touches strictly increasing by at least a second (two clicks of one user in the
    same second are not a real journey, and GA4 would merge them into one session's source):
    the k-th touch of a user moves to ``max(t_k, t_{k-1} + 1 s)``. ``tp`` is sorted by user and
    time with a fresh index."""
    if tp.empty:
        return tp
    secs = tp["timestamp"].to_numpy().astype("datetime64[s]").astype(np.int64)
    k = tp.groupby("user_id", sort=False).cumcount().to_numpy()
    shifted = pd.Series(secs - k).groupby(tp["user_id"].to_numpy(), sort=False).cummax()
    fixed = shifted.to_numpy() + k
    if (fixed != secs).any():
        tp["timestamp"] = fixed.astype("datetime64[s]").astype("datetime64[ns]")
        epoch_sid = tp["session_id"].str.fullmatch(r"\d+")
        tp.loc[epoch_sid, "session_id"] = fixed[epoch_sid.to_numpy()].astype(str)
    return tp


def _last_touch(touchpoints: pd.DataFrame, conversions: pd.DataFrame) -> np.ndarray:
    """Channel of the last touchpoint at or before each conversion ('' when none)."""
    if conversions.empty:
        return np.array([], dtype=object)
    tp = touchpoints.merge(
        conversions[["user_id", "timestamp"]].rename(columns={"timestamp": "conv_ts"}),
        on="user_id",
    )
    tp = tp[tp["timestamp"] <= tp["conv_ts"]].sort_values(["user_id", "timestamp"])
    lastc = tp.groupby("user_id", sort=False)["channel"].last()
    return conversions["user_id"].map(lastc).fillna("").to_numpy()
