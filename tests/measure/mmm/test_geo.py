"""Geo-level hierarchical MMM: recovery on a synthetic geo panel drawn from the model's family
with known per-geo iROAS, the effect of partial pooling (measured against each geo on its own),
bad input, a smoke fit on Meridian's public geo data, and the outputs: runs saved and reloaded
without refitting, counterfactuals and predictions per geo and in total."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spendlab.errors import ConfigError, DataError
from spendlab.measure.mmm import MMM, MMMConfig, load_mmm, make_mmm
from spendlab.measure.mmm.geo_estimator import GeoMMM

CHANNELS = ("search", "social", "tv")


def geo_panel(geos: int = 20, weeks: int = 104, seed: int = 0, tau: float = 0.3,
              noise: float = 0.02) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """Long (date, geo) data: geo sizes log-normal, per-geo iROAS ``m_c exp(tau z - tau^2/2)``,
    geometric adstock + Hill saturation at a multiple of each geo's spend level, per geo
    baseline with trend and yearly seasonality, normal noise. Truth: per-geo and national
    iROAS over the period (contribution / spend)."""
    rng = np.random.default_rng(seed)
    m = np.array([2.0, 1.2, 0.8])
    alpha = np.array([0.2, 0.4, 0.6])
    half = np.array([1.2, 1.5, 1.5])
    dates = pd.date_range("2023-01-02", periods=weeks, freq="7D")
    size = np.exp(rng.normal(0, 0.5, geos))
    t = np.arange(weeks) / weeks
    season = 0.15 * np.sin(2 * np.pi * dates.dayofyear.to_numpy() / 365.25)
    iroas = m[None] * np.exp(tau * rng.standard_normal((geos, 3)) - tau**2 / 2)
    rows, contrib, spends = [], np.zeros((geos, 3)), np.zeros((geos, 3))
    for g in range(geos):
        sp = size[g] * np.array([30.0, 20.0, 40.0]) * np.exp(rng.normal(0, 0.7, (weeks, 3)))
        sp[:, :2] *= rng.random((weeks, 2)) < 0.85
        sp[:, 2] *= rng.random(weeks) < 0.6  # tv is flighted
        media = np.zeros((weeks, 3))
        for c in range(3):
            x = sp[:, c] / sp[sp[:, c] > 0, c].mean()
            w = alpha[c] ** np.arange(8)
            ad = np.convolve(x, w / w.sum())[:weeks]
            sat = ad**1.5 / (ad**1.5 + half[c] ** 1.5)
            media[:, c] = iroas[g, c] * sp[:, c].sum() / sat.sum() * sat
        base = size[g] * 600 * np.exp(0.1 * t + season)
        y = base + media.sum(1) + rng.normal(0, noise * base.mean(), weeks)
        contrib[g], spends[g] = media.sum(0), sp.sum(0)
        rows.append(pd.DataFrame({"date": dates, "geo": f"G{g:02d}", "revenue": y,
                                  **{ch: sp[:, c] for c, ch in enumerate(CHANNELS)}}))  # fmt: skip
    truth = {"geo": contrib / spends, "national": contrib.sum(0) / spends.sum(0)}
    return pd.concat(rows, ignore_index=True), truth


def _cfg(**kw) -> MMMConfig:
    base = {"date": "date", "target": "revenue", "channels": CHANNELS, "geo": "geo",
            "fast": True, "draws": 200, "progress_bar": False}  # fmt: skip
    return MMMConfig(**{**base, **kw})


def _geo_iroas(model) -> np.ndarray:
    gs = model.geo_summary()
    return gs.pivot(index="geo", columns="channel", values="iroas_mean")[list(CHANNELS)].to_numpy()


@pytest.fixture(scope="module")
def panel():
    return geo_panel()


@pytest.fixture(scope="module")
def fits(panel):
    df, _ = panel
    return make_mmm(_cfg()).fit(df), make_mmm(_cfg(pooling=False)).fit(df)


def test_national_iroas_recovered_within_15pct(fits, panel):
    pooled, _ = fits
    _, truth = panel
    s = pooled.summary()
    assert list(s["channel"]) == list(CHANNELS)
    err = np.abs(s["iroas_mean"].to_numpy() / truth["national"] - 1)
    assert err.max() <= 0.15, (s[["channel", "iroas_mean"]], truth["national"])
    assert (s["iroas_lo"] < s["iroas_mean"]).all() and (s["iroas_mean"] < s["iroas_hi"]).all()
    # national = spend-weighted sum of the geo contributions
    gs = pooled.summary(level="geo")
    contrib = gs.groupby("channel", sort=False)["contribution"].sum().to_numpy()
    np.testing.assert_allclose(contrib, s["contribution"].to_numpy(), rtol=1e-6)


def test_pooling_shrinks_and_beats_each_geo_alone(fits, panel):
    pooled, alone = fits
    _, truth = panel
    ip, ia = _geo_iroas(pooled), _geo_iroas(alone)
    nat = pooled.summary()["iroas_mean"].to_numpy()
    # shrinkage: pooled geo estimates sit closer to the national iROAS than unpooled ones
    spread_p = np.sqrt(((ip - nat) ** 2).mean(axis=0))
    spread_a = np.sqrt(((ia - nat) ** 2).mean(axis=0))
    assert (spread_p < spread_a).all(), (spread_p, spread_a)
    # and they are closer to the truth per geo (RMSE over geos, every channel and in total)
    rmse_p = np.sqrt(((ip - truth["geo"]) ** 2).mean(axis=0))
    rmse_a = np.sqrt(((ia - truth["geo"]) ** 2).mean(axis=0))
    assert (rmse_p <= rmse_a * 1.02).all() and rmse_p.sum() < rmse_a.sum(), (rmse_p, rmse_a)
    tau = pooled.inference_info_["tau_empirical_bayes"]
    assert all(0.05 <= t < 0.6 for t in tau)


def test_pooling_beats_separate_national_fits_per_geo(fits, panel):
    """Against fully separate fits (the national model on each geo's rows, nothing shared), on
    the first 8 geos: pooling cuts the per-geo RMSE of every channel's iROAS."""
    pooled, _ = fits
    df, truth = panel
    geos = sorted(df.geo.unique())[:8]
    sep = []
    for g in geos:
        cfg = MMMConfig(date="date", target="revenue", channels=CHANNELS, fast=True, draws=100,
                        progress_bar=False)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small single-geo fits: "barely varies" notes
            sep.append(MMM(cfg).fit(df[df.geo == g].drop(columns="geo")).summary()["iroas_mean"])
    sep = np.array(sep)
    ip = _geo_iroas(pooled)[:8]
    rmse_p = np.sqrt(((ip - truth["geo"][:8]) ** 2).mean(axis=0))
    rmse_s = np.sqrt(((sep - truth["geo"][:8]) ** 2).mean(axis=0))
    assert (rmse_p < rmse_s).all(), (rmse_p, rmse_s)


def test_outputs_are_national_and_consistent(fits, panel):
    pooled, _ = fits
    df, _ = panel
    fitted = pooled.fitted()
    np.testing.assert_allclose(fitted["actual"], df.groupby("date")["revenue"].sum().to_numpy())
    r2 = 1 - ((fitted["actual"] - fitted["mean"]) ** 2).sum() / (
        (fitted["actual"] - fitted["actual"].mean()) ** 2).sum()  # fmt: skip
    assert r2 > 0.9
    params = pooled.response_curve_params()
    curves = pooled.response_curves(points=11)
    for ch in CHANNELS:
        p = params[params.channel == ch]
        c = curves[curves.channel == ch]
        # the Hill summary reproduces the exact sum of geo curves (equal shapes by construction
        # is not guaranteed here, so allow 10%) at the current national spend
        x = c.loc[c.current, "spend"].iloc[0]
        approx = (p.beta * x**p.s / (x**p.s + p.half**p.s)).mean()
        exact = c.loc[c.current, "mean"].iloc[0]
        assert approx == pytest.approx(exact, rel=0.1)
    js = pooled.to_json()
    assert js["level"] == "geo" and len(js["geos"]) == 20
    assert set(js["geos"]["G00"]) == set(CHANNELS)
    assert {h["check"] for h in js["health"]} >= {"rhat", "in_sample_r2"}


def test_bad_geo_input_errors(panel):
    df, _ = panel
    short = df[~((df.geo == "G03") & (df.date > df.date.min() + pd.Timedelta(weeks=10)))]
    with pytest.raises(DataError, match="geo 'G03' has 11 rows"):
        make_mmm(_cfg()).fit(short)
    missing = df.copy()
    missing.loc[5, "geo"] = None
    with pytest.raises(DataError, match=r"'geo' has 1 missing value\(s\), first at row 6"):
        make_mmm(_cfg()).fit(missing)
    one = df[df.geo == "G00"]
    with pytest.raises(DataError, match="at least 2"):
        make_mmm(_cfg()).fit(one)
    neg = df.copy()
    neg.loc[neg.index[neg.geo == "G01"][4], "tv"] = -1.0
    with pytest.raises(DataError, match="negative spend -1.0 in geo 'G01'"):
        make_mmm(_cfg()).fit(neg)
    shifted = df.copy()
    shifted.loc[shifted.geo == "G02", "date"] += pd.Timedelta(days=7)
    with pytest.raises(DataError, match="geo 'G02' has different dates"):
        make_mmm(_cfg()).fit(shifted)


MERIDIAN = Path("/work/shared/data/meridian/geo_media.csv")


@pytest.mark.skipif(not MERIDIAN.exists(), reason=f"public Meridian data absent ({MERIDIAN})")
def test_meridian_geo_media_smoke_fast():
    df = pd.read_csv(MERIDIAN)
    chans = tuple(f"Channel{i}_spend" for i in range(4))
    df["revenue"] = df["conversions"] * df["revenue_per_conversion"]
    cfg = _cfg(
        date="time",
        target="revenue",
        channels=chans,
        population="population",
        controls=("competitor_activity_score_control", "sentiment_score_control"),
    )
    m = make_mmm(cfg).fit(df)
    s = m.summary()
    assert np.isfinite(s["iroas_mean"]).all() and (s["iroas_mean"] > 0).all()
    assert len(m.geo_summary()) == df["geo"].nunique() * 4
    card = m.health()
    assert set(card["status"]) <= {"PASS", "REVIEW", "FAIL"} and len(card) == 6


def _nuts_small():
    df, truth = geo_panel(geos=8, weeks=104, seed=1)
    cfg = _cfg(fast=False, chains=2, warmup=200, draws=200)
    return make_mmm(cfg).fit(df), truth


@pytest.mark.slow
def test_nuts_geo_fit_diagnostics():
    m, truth = _nuts_small()
    d = m.diagnostics_
    assert d["method"] == "nuts" and d["rhat_max"] is not None and np.isfinite(d["rhat_max"])
    assert d["ess_bulk_min"] > 0
    s = m.summary()
    err = np.abs(s["iroas_mean"].to_numpy() / truth["national"] - 1)
    assert np.median(err) <= 0.15, (s, truth["national"])


def test_cli_fit_geo_json(tmp_path):
    import json

    from typer.testing import CliRunner

    from spendlab.cli.main import app

    df, _ = geo_panel(geos=4, weeks=60, seed=2)
    csv = tmp_path / "geo.csv"
    df.to_csv(csv, index=False)
    args = ["mmm", "fit", str(csv), "--date", "date", "--target", "revenue", "--channel",
            "search", "--channel", "social", "--channel", "tv", "--fast", "--draws", "50",
            "--yearly-order", "1", "--geo", "geo", "--json"]  # fmt: skip
    run = tmp_path / "run"
    res = CliRunner().invoke(app, [*args, "--out", str(run)])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["level"] == "geo" and sorted(payload["geos"]) == ["G00", "G01", "G02", "G03"]
    assert set(payload["geos"]["G01"]["tv"]["iroas"]) == {"mean", "lo", "hi"}
    assert payload["channels"]["search"]["iroas"]["mean"] > 0
    assert Path(payload["run"]) == run.resolve() and (run / "posterior.npz").exists()
    # the saved run reloads as a geo model and its one-page report is written without refitting
    png = tmp_path / "report.png"
    res = CliRunner().invoke(app, ["mmm", "report", str(run), "--out", str(png), "--json"])
    assert res.exit_code == 0, res.output
    assert png.stat().st_size > 10_000 and json.loads(res.stdout)["report"] == str(png.resolve())
    res = CliRunner().invoke(app, [*args[:-3], "--geo", "region", "--json"])
    assert res.exit_code != 0 and "geo column 'region' not in the data" in res.output


# ---------------------------------------------------------------------------------- outputs
def _same_json(a: dict, b: dict) -> bool:
    import json

    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def test_geo_run_saved_and_reloaded_without_refitting(fits, tmp_path):
    pooled, alone = fits
    for model, folder in ((pooled, tmp_path / "pooled"), (alone, tmp_path / "alone")):
        model.save(folder)
        assert {p.name for p in folder.iterdir()} >= {"config.json", "run.json", "data.csv",
                                                      "posterior.npz"}  # fmt: skip
        back = load_mmm(folder)
        assert isinstance(back, GeoMMM) and back.geos == model.geos
        assert type(GeoMMM.load(folder)) is GeoMMM
        assert back.prep_.data_hash == model.prep_.data_hash
        assert _same_json(back.to_json(), model.to_json())
        pd.testing.assert_frame_equal(back.geo_summary(), model.geo_summary())
    # the empirical-Bayes pooling scale of the fast fit comes back with the draws
    assert back.spec_.tau_fixed is False and load_mmm(tmp_path / "pooled").spec_.tau_fixed
    # the class named is the class built: the national estimator refuses a geo run
    with pytest.raises(ConfigError, match=r"geo-level model.*load_mmm\(run_dir\)"):
        MMM.load(tmp_path / "pooled")
    # an edited data file is refused (the data hash no longer matches)
    data = tmp_path / "pooled" / "data.csv"
    edited = pd.read_csv(data)
    edited.loc[3, "revenue"] += 1.0
    edited.to_csv(data, index=False)
    with pytest.raises(ConfigError, match="does not match the run's data hash"):
        load_mmm(tmp_path / "pooled")


def test_geo_counterfactual_per_geo_and_national(fits):
    from spendlab.measure.mmm.geo_estimator import NATIONAL

    pooled, _ = fits
    contrib = pooled.contributions()
    fitted = pooled.fitted()
    for ch in ("search", "tv"):
        cf = pooled.counterfactual(ch)
        assert list(cf["geo"].unique()) == [*pooled.geos, NATIONAL]
        nat = cf[cf.geo == NATIONAL].reset_index(drop=True)
        per_geo = cf[cf.geo != NATIONAL].groupby("date", sort=True)["difference_mean"].sum()
        # media is additive: what the channel caused is its contribution, per period and summed
        mine = contrib[contrib.component == ch]["mean"].to_numpy()
        np.testing.assert_allclose(nat["difference_mean"], mine, rtol=1e-4, atol=1e-6)
        assert nat["difference_mean"].sum() == pytest.approx(mine.sum(), rel=1e-5)
        np.testing.assert_allclose(per_geo.to_numpy(), nat["difference_mean"], rtol=1e-4)
        np.testing.assert_allclose(nat["fitted"], fitted["mean"], rtol=1e-5)
        np.testing.assert_allclose(nat["fitted"] - nat["without"], nat["difference_mean"],
                                   rtol=1e-4, atol=1e-3)  # fmt: skip
        assert (cf["difference_lo"] <= cf["difference_mean"] + 1e-9).all()
        assert (cf["difference_mean"] <= cf["difference_hi"] + 1e-9).all()
        assert (nat["difference_mean"] >= 0).all() and nat["difference_mean"].sum() > 0
    with pytest.raises(ConfigError, match="'radio' is not a channel"):
        pooled.counterfactual("radio")


HOLD = 8


@pytest.fixture(scope="module")
def small():
    """8 geos x 104 weeks, the last HOLD weeks held out."""
    df, _ = geo_panel(geos=8, weeks=104, seed=3)
    return df, make_mmm(_cfg(holdout=HOLD)).fit(df)


def test_geo_predict_continues_the_series(small):
    """A fit on all but the last K weeks predicts them about as well as the holdout fit scores
    them; more future spend raises the prediction by a positive amount below twice what the
    channel's future spend contributes; national plans are split over geos."""
    from spendlab.measure.mmm.geo_estimator import NATIONAL

    k = HOLD
    df, held = small
    cut = np.sort(df.date.unique())[-k]
    past = make_mmm(_cfg()).fit(df[df.date < cut])
    future = df[df.date >= cut].drop(columns="revenue")
    pred = past.predict(future)
    assert list(pred["geo"].unique()) == [*past.geos, NATIONAL] and len(pred) == 9 * k
    rows = pred[pred.geo != NATIONAL].merge(df, on=["date", "geo"])
    mape = float(np.mean(np.abs(rows.revenue - rows["mean"]) / rows.revenue))
    ref = held.fit_report()["holdout"]["mape"]
    assert mape == pytest.approx(ref, rel=0.3, abs=0.005), (mape, ref)
    assert mape < 0.05
    nat = pred[pred.geo == NATIONAL]
    np.testing.assert_allclose(nat["mean"], rows.groupby("date")["mean"].sum(), rtol=1e-6)
    assert ((nat["lo"] < nat["mean"]) & (nat["mean"] < nat["hi"])).all()

    def total(plan: pd.DataFrame) -> float:
        p = past.predict(plan)
        return float(p.loc[p.geo == NATIONAL, "mean"].sum())

    base = total(future)
    for ch in CHANNELS:
        more, off = future.copy(), future.copy()
        more[ch] *= 2.0
        off[ch] = 0.0
        gain, contribution = total(more) - base, base - total(off)
        assert 0 < gain < 2 * contribution, (ch, gain, contribution)
    # a national plan (no geo column) is split over geos by their spend shares
    plan = future.groupby("date", as_index=False)[list(CHANNELS)].sum()
    nat_plan = past.predict(plan)
    assert len(nat_plan) == 9 * k
    got = nat_plan.loc[nat_plan.geo == NATIONAL, "mean"].to_numpy()
    np.testing.assert_allclose(got, nat["mean"], rtol=0.1)
    # bad plans: a gap after the data, a missing column, an unknown geo
    with pytest.raises(DataError, match="future dates must continue the data"):
        past.predict(future.assign(date=future.date + pd.Timedelta(weeks=1)))
    with pytest.raises(ConfigError, match=r"lacks column\(s\) \['tv'\]"):
        past.predict(future.drop(columns="tv"))
    with pytest.raises(DataError, match=r"geo\(s\) \['X1'\]"):
        past.predict(future.assign(geo=future.geo.where(future.geo != "G01", "X1")))


def test_geo_lift_tests_national_and_per_geo(small):
    """A lift test on the national total of a channel over a window (sum over geos) and one in a
    single geo pull the model's window contributions to the measurements (placed 40% above and
    40% below the uncalibrated fit, standard errors 2-3%)."""
    from spendlab.measure.mmm.config import LiftTest
    from spendlab.measure.mmm.geo_estimator import NATIONAL

    df, base = small
    dates = np.sort(df.date.unique())

    def window(m, ch, geo, lo, hi) -> float:
        cf = m.counterfactual(ch)
        rows = cf[(cf.geo == geo) & (cf.date >= dates[lo]) & (cf.date <= dates[hi])]
        return float(rows.difference_mean.sum())

    def day(i, days=0) -> str:
        return str((pd.Timestamp(dates[i]) + pd.Timedelta(days=days)).date())

    tv0, so0 = window(base, "tv", NATIONAL, 40, 51), window(base, "social", "G02", 60, 71)
    tv, so = 1.4 * tv0, 0.6 * so0
    lifts = (LiftTest("tv", day(40), day(51, 6), tv, 0.02 * tv),
             LiftTest("social", day(60), day(71, 6), so, 0.03 * so, geo="G02"))  # fmt: skip
    cal = make_mmm(_cfg(holdout=HOLD, lift_tests=lifts)).fit(df)
    tv1, so1 = window(cal, "tv", NATIONAL, 40, 51), window(cal, "social", "G02", 60, 71)
    assert abs(tv1 - tv) < 0.2 * abs(tv0 - tv), (tv0, tv1, tv)
    assert abs(so1 - so) < 0.3 * abs(so0 - so), (so0, so1, so)
    # the geo test moves its geo more than the others
    others = [window(m, "social", "G03", 60, 71) for m in (base, cal)]
    assert abs(others[1] / others[0] - 1) < abs(so1 / so0 - 1)
    with pytest.raises(ConfigError, match="names geo 'X9', which is not in the data"):
        make_mmm(_cfg(lift_tests=(LiftTest("tv", day(40), day(51), 1.0, 0.1, geo="X9"),))).fit(df)
    with pytest.raises(ConfigError, match="names a geo but the model is national"):
        MMMConfig(date="date", target="revenue", channels=CHANNELS,
                  lift_tests=(LiftTest("tv", day(40), day(51), 1.0, 0.1, geo="G01"),))  # fmt: skip


def test_predict_roi_on_a_geo_run_uses_national_periods(small):
    """`predict_roi` (REST /api/predict_roi) on a geo run: the period is the data's week (each
    date repeats once per geo), channels left out keep their national average spend per week, and
    the response at that spend equals the national response curve there."""
    from spendlab.measure.mmm.roi import predict_roi

    model = small[1]
    out = predict_roi(model, {})
    assert out["period_days"] == 7
    weeks = model.data_[model.config.date].nunique() - model.config.holdout
    totals = model.summary().set_index("channel")["spend"]
    for ch in model.config.channels:
        row = out["channels"][ch]
        assert row["spend_from"] == "average"
        assert row["spend"] == pytest.approx(totals[ch] / weeks, rel=1e-9)
    assert out["outcome"]["lo"] < out["outcome"]["mean"] < out["outcome"]["hi"]
