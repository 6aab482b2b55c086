"""The estimator's outputs on a fast (Laplace) fit: recovery, and exact agreement between outputs
computed two independent ways."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from spendlab.errors import ConfigError, DataError
from spendlab.measure.mmm import MMM


def test_fast_fit_recovers_dominant_channel_and_fits_well(fast_fit):
    m, _, truth = fast_fit
    s = m.summary().set_index("channel")
    assert abs(s.loc["search", "iroas_mean"] / truth["search"] - 1) < 0.15
    assert s["contribution_share"].sum() == pytest.approx(1.0, abs=1e-5)
    assert s["spend_share"].sum() == pytest.approx(1.0)
    assert (s["iroas_lo"] <= s["iroas_mean"]).all() and (s["iroas_mean"] <= s["iroas_hi"]).all()
    fr = m.fit_report()
    assert fr["in_sample"]["r2"] > 0.9 and fr["holdout"]["mape"] < 0.1
    card = m.health()
    assert set(card["status"]) <= {"PASS", "REVIEW", "FAIL"}
    assert card.set_index("check").loc["baseline_non_negative", "status"] == "PASS"


def test_response_curve_params_reproduce_response_curves(fast_fit):
    m, _, _ = fast_fit
    params = m.response_curve_params()
    curves = m.response_curves(points=9)
    for ch, g in params.groupby("channel"):
        assert (g["type"] == "hill").all()
        x = curves.loc[curves["channel"] == ch, "spend"].to_numpy()
        b, h, s = (g[k].to_numpy()[:, None] for k in ("beta", "half", "s"))
        with np.errstate(divide="ignore"):
            resp = b * x**s / (x**s + h**s)
        mean = curves.loc[curves["channel"] == ch, "mean"].to_numpy()
        np.testing.assert_allclose(resp.mean(axis=0), mean, rtol=2e-3, atol=1e-3)


def test_contributions_counterfactual_and_adstock_agree(fast_fit):
    m, df, _ = fast_fit
    contrib = m.contributions()
    cf = m.counterfactual("search")
    by_time = contrib[contrib["component"] == "search"]["mean"].to_numpy()
    np.testing.assert_allclose(cf["difference_mean"].to_numpy(), by_time, rtol=1e-3, atol=1e-2)
    fitted = m.fitted()
    total = contrib.groupby("date")["mean"].sum().to_numpy()
    np.testing.assert_allclose(total, fitted["mean"].to_numpy(), rtol=1e-4)
    ad = m.adstock()
    np.testing.assert_allclose(ad.groupby("channel")["mean"].sum(), 1.0, rtol=1e-5)
    n = m.prep_.n_train
    s = m.summary().set_index("channel")
    np.testing.assert_allclose(by_time[:n].sum(), s.loc["search", "contribution"], rtol=1e-4)
    with pytest.raises(ConfigError):
        m.counterfactual("tv")


def test_predict_continues_the_series(fast_fit):
    m, df, _ = fast_fit
    fut = df.tail(4).copy()
    fut["date"] = pd.date_range(df["date"].iloc[-1] + pd.Timedelta(days=7), periods=4, freq="7D")
    pred = m.predict(fut)
    assert len(pred) == 4 and (pred["lo"] <= pred["mean"]).all()
    zero = m.predict(fut.assign(search=0.0, social=0.0))
    assert (zero["mean"] < pred["mean"]).all()  # media effects are positive
    with pytest.raises(DataError, match="continue the data"):
        m.predict(fut.assign(date=fut["date"] + pd.Timedelta(days=7)))


def test_save_and_load_without_refitting(fast_fit, tmp_path):
    m, _, _ = fast_fit
    m.save(tmp_path / "run")
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {
        "config.json", "run.json", "data.csv", "posterior.npz"}  # fmt: skip
    back = MMM.load(tmp_path / "run")
    pd.testing.assert_frame_equal(back.summary(), m.summary())
    payload = back.to_json()
    assert set(payload["channels"]["search"]) >= {"iroas", "mroas", "contribution_share"}
    assert set(payload["diagnostics"]) >= {"rhat_max", "ess_bulk_min", "divergences"}


def test_the_factory_picks_the_estimator_and_each_class_refuses_the_other_kind(fast_fit, tmp_path):
    """``make_mmm``/``load_mmm`` pick MMM or GeoMMM from the config; ``MMM(geo config)`` and
    ``GeoMMM(national config)`` are config errors that point to the factory."""
    from spendlab.measure.mmm import GeoMMM, MMMConfig, load_mmm, make_mmm

    m, _, _ = fast_fit
    national = m.config
    geo = MMMConfig(date="date", target="sales", channels=("search",), geo="region")
    assert type(make_mmm(national)) is MMM and type(make_mmm(geo)) is GeoMMM
    with pytest.raises(ConfigError, match=r"geo-level model.*make_mmm\(config\)"):
        MMM(geo)
    with pytest.raises(ConfigError, match=r"needs MMMConfig\(geo=COLUMN\).*make_mmm"):
        GeoMMM(national)
    m.save(tmp_path / "run")
    back = load_mmm(tmp_path / "run")
    assert type(back) is MMM and back.prep_.data_hash == m.prep_.data_hash
    # the stored config is what was fitted; the display option progress_bar is not in it
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "progress_bar" not in stored and stored["channels"] == ["search", "social"]
    assert MMMConfig.from_dict(stored) == dataclasses.replace(national, progress_bar=True)


def test_plotly_figures_build(fast_fit):
    from spendlab.measure.mmm import plots

    m, _, _ = fast_fit
    for fn in (plots.actual_vs_fitted, plots.contribution_waterfall, plots.contribution_area,
               plots.iroas_intervals, plots.response_curves, plots.adstock):  # fmt: skip
        fig = fn(m)
        assert len(fig.data) >= 1
