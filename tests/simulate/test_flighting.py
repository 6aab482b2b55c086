"""Channel-wide flighting (``SimConfig.flighting``): identifiable channel spend for MMM tests,
without changing any other draw of the market."""

from __future__ import annotations

import numpy as np

from spendlab.simulate import simulate
from spendlab.simulate.scenarios import mmm_scenario
from spendlab.simulate.weekly import mmm_weekly


def _cv(df, ch):
    nz = df[ch][df[ch] > 0]
    return nz.std() / nz.mean()


def test_flighting_varies_channel_spend_and_leaves_other_draws_alone():
    kw = dict(seed=4, days=2 * 365, start="2022-01-03", campaigns=24, users=300, customers=50)
    plain, flighted = simulate(**kw), simulate(**kw, flighting=True)
    # same baseline shape (its level scales with media by design: media_share)
    np.testing.assert_array_equal(plain.shape.yearly, flighted.shape.yearly)
    b0, b1 = plain.outcome.baseline, flighted.outcome.baseline
    np.testing.assert_allclose(b0 / b0.mean(), b1 / b1.mean(), rtol=1e-12)
    np.testing.assert_array_equal(plain.catalog.params.beta, flighted.catalog.params.beta)
    # a campaign's spend is its old path times its channel's plan (zero on dark days)
    ratio = flighted.spend / np.where(plain.spend > 0, plain.spend, np.nan)
    chan = plain.catalog.table["channel"].to_numpy()
    for ch in set(chan):
        r = ratio[chan == ch]
        spread = np.nanmax(r, axis=0) - np.nanmin(r, axis=0)
        assert np.nanmax(spread) < 0.02 * np.nanmax(r)  # one plan per channel and day (cents)
    wp, _ = mmm_weekly(plain)
    wf, truth = mmm_weekly(flighted)
    for ch in truth:
        assert _cv(wf, ch) > max(0.3, 1.3 * _cv(wp, ch)), (ch, _cv(wf, ch), _cv(wp, ch))
        assert (wf[ch] == 0).sum() >= 1  # dark weeks
        assert truth[ch]["iroas"] >= 0  # retargeting: exactly 0


def test_mmm_scenario_weekly_frame():
    df, truth = mmm_weekly(simulate(mmm_scenario(0, years=1)))
    assert list(truth) == ["paid_search", "paid_social", "bing_search", "display"]
    assert df["date"].dt.weekday.eq(0).all() and df["date"].diff().dropna().dt.days.eq(7).all()
    assert {"revenue", "price", "promotion", "competitor_spend", "macro_index", "holiday"} <= set(
        df.columns
    )
    for ch, t in truth.items():
        assert t["spend"] == np.float64(df[ch].sum())
