"""The hand-written log density against an independent scipy formulation, and the diagnostics
(R-hat, ESS, PSIS) against known cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from spendlab.measure.mmm import MMMConfig
from spendlab.measure.mmm.data import prepare
from spendlab.measure.mmm.diagnostics import rhat_ess
from spendlab.measure.mmm.inference import psis_weights
from spendlab.measure.mmm.model import constrain, layout, log_density, model_arrays, spec_of


def _reference(spec, u, a, prep) -> float:
    """Log posterior from scipy densities on the constrained parameters plus the log-Jacobian,
    the media and baseline written out with numpy loops."""
    u = np.asarray(u, dtype=float)
    blocks = {name: u[off : off + size] for name, off, size in layout(spec)}
    alpha, half = 1 / (1 + np.exp(-blocks["alpha"])), np.exp(blocks["half"])
    slope, iroas = np.exp(blocks["slope"]), np.exp(blocks["iroas"])
    mult = spec.multiplicative
    b0 = np.exp(blocks["intercept"][0]) if mult else blocks["intercept"][0]
    sigma = np.exp(blocks["sigma"][0])
    lp = stats.beta(1.5, 3.0).logpdf(alpha).sum() + np.sum(np.log(alpha * (1 - alpha)))
    lp += stats.lognorm(0.6, scale=1.0).logpdf(half).sum() + blocks["half"].sum()
    lp += stats.lognorm(0.4, scale=np.exp(0.3)).logpdf(slope).sum() + blocks["slope"].sum()
    mu_i, sd_i = np.asarray(a["iroas_mu"]), np.asarray(a["iroas_sigma"])
    lp += stats.lognorm(sd_i, scale=np.exp(mu_i)).logpdf(iroas).sum() + blocks["iroas"].sum()
    if mult:
        lp += stats.lognorm(0.6, scale=0.6).logpdf(b0) + blocks["intercept"][0]
    else:
        lp += stats.norm(0.6, 0.5).logpdf(b0)
    lp += stats.norm(0, 0.5).logpdf(blocks["trend"]).sum()
    lp += stats.norm(0, 0.3).logpdf(blocks["fourier"]).sum()
    lp += stats.norm(0, 0.3).logpdf(blocks["gamma"]).sum()
    lp += stats.halfnorm(scale=0.2).logpdf(sigma) + blocks["sigma"][0]
    x, n, lag = prep.x, prep.n_train, prep.max_lag
    media = np.zeros_like(x)
    for c in range(x.shape[1]):
        w = alpha[c] ** np.arange(lag)
        w /= w.sum()
        ad = np.convolve(x[:, c], w)[: len(x)]
        sat = ad ** slope[c] / (ad ** slope[c] + half[c] ** slope[c])
        beta = iroas[c] * prep.spend[:n, c].sum() / (prep.y_scale * sat[:n].sum())
        media[:, c] = beta * sat
    lin = blocks["trend"][0] * prep.t + prep.fourier @ blocks["fourier"]
    if mult:
        base = b0 * np.exp(lin)
    else:  # additive, smooth floor at 0: 0.01 * log(1 + exp((b0 + lin) / 0.01))
        base = 0.01 * np.logaddexp(0.0, (b0 + lin) / 0.01)
    mu = base + prep.controls @ blocks["gamma"] + media.sum(axis=1)
    y = prep.y / prep.y_scale
    return float(lp + stats.norm(mu[:n], sigma).logpdf(y[:n]).sum())


@pytest.mark.parametrize("baseline", ["additive", "multiplicative"])
def test_log_density_matches_scipy_reference(weekly, baseline):
    df, _ = weekly
    cfg = MMMConfig(date="date", target="sales", channels=("search", "social"),
                    controls=("price",), yearly_order=1, baseline=baseline)  # fmt: skip
    prep = prepare(df, cfg)
    spec, a = spec_of(cfg, prep), model_arrays(cfg, prep)
    rng = np.random.default_rng(0)
    base = None
    for _ in range(3):
        u = rng.normal(0, 0.3, layout(spec)[-1][1] + 1).astype(np.float32)
        u[-1] = np.log(0.05)  # sigma
        got, ref = float(log_density(spec, u, a)), _reference(spec, u, a, prep)
        # equal up to one constant (normalising terms the sampler does not need)
        if base is None:
            base = ref - got
        assert ref - got == pytest.approx(base, rel=1e-4, abs=0.05)
    p, _ = constrain(spec, u)
    assert set(p) == {"alpha", "half", "slope", "iroas", "intercept", "trend", "fourier",
                      "gamma", "sigma"}  # fmt: skip


def test_rhat_and_ess_on_known_chains():
    rng = np.random.default_rng(1)
    iid = rng.standard_normal((4, 1000))
    rhat, bulk, tail = rhat_ess(iid)
    assert rhat < 1.01 and bulk > 3000 and tail > 2000
    shifted = iid + np.array([0.0, 0.0, 0.0, 1.0])[:, None]
    assert rhat_ess(shifted)[0] > 1.05
    ar = np.zeros((2, 2000))  # AR(1), phi = 0.9: ESS about n (1 - phi) / (1 + phi)
    for t in range(1, 2000):
        ar[:, t] = 0.9 * ar[:, t - 1] + rng.standard_normal(2)
    _, bulk, _ = rhat_ess(ar)
    assert 100 < bulk < 420


def test_psis_weights_reliable_when_proposal_fits_and_not_when_tails_are_heavy():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(4000)
    w, k = psis_weights(np.zeros_like(x))  # proposal = target
    np.testing.assert_allclose(w, 1 / x.size)
    assert k <= 0.0
    # target N(0, 5), proposal N(0, 1): weights ~ exp(x^2 (1 - 1/25) / 2), Pareto k about 0.96
    logw = stats.norm(0, 5).logpdf(x) - stats.norm(0, 1).logpdf(x)
    w, k = psis_weights(logw)
    assert k > 0.7 and w.sum() == pytest.approx(1.0)
    logw = stats.norm(0, 1).logpdf(x * 1.3) + np.log(1.3) - stats.norm(0, 1).logpdf(x)
    _, k = psis_weights(logw)  # proposal wider than the target: light tails
    assert k < 0.5


def test_stuck_chain_is_found_and_moved_to_the_best_chain():
    """A chain whose potential energy sits 75 nats above the others at the end of warm-up is
    moved to the best chain's state (keeping its own random key); a chain a few nats off (the
    normal spread of the energy, sd ~ sqrt(dim / 2)) is left alone."""
    from numpyro.infer.hmc import HMCState

    from spendlab.measure.mmm.inference import restart_stuck_chains, stuck_chains

    rng = np.random.default_rng(0)
    dim, chains = 30, 4
    pe = rng.normal(100.0, np.sqrt(dim / 2), (100, chains))
    pe[:, 1] += 8.0  # within the spread: not stuck
    pe[:, 3] += 75.0  # stuck
    moved = stuck_chains(pe, dim)
    best = int(np.argmin(np.median(pe, axis=0)))
    assert [m["chain"] for m in moved] == [3] and moved[0]["from_chain"] == best
    assert moved[0]["gap"] == pytest.approx(75.0, abs=3.0)

    z = rng.normal(size=(chains, dim)).astype(np.float32)
    keys = np.arange(chains * 2, dtype=np.uint32).reshape(chains, 2)
    fields = {f: np.arange(chains, dtype=np.float32) for f in HMCState._fields}
    state = HMCState(**{**fields, "z": z, "rng_key": keys})
    new, got = restart_stuck_chains(state, pe, ndev=1)
    assert got == moved
    np.testing.assert_array_equal(new.z[3], z[best])
    np.testing.assert_array_equal(new.z[:3], z[:3])
    np.testing.assert_array_equal(new.rng_key, keys)  # own keys kept
    # the same on a (devices, chains per device, ...) layout
    two = HMCState(**{k: np.asarray(v).reshape((2, 2) + np.shape(v)[1:])
                      for k, v in state._asdict().items()})  # fmt: skip
    new2, got2 = restart_stuck_chains(two, pe, ndev=2)
    assert got2 == moved
    np.testing.assert_array_equal(np.asarray(new2.z).reshape(chains, dim), new.z)
    same, none = restart_stuck_chains(state, pe[:, :3], ndev=1)
    assert none == [] and same is state


def test_the_compilation_cache_folder_comes_from_the_settings(tmp_path):
    """``compilation_cache()`` uses ``spendlab.workspace.jax_cache_dir()``: SPENDLAB_JAX_CACHE,
    else <SPENDLAB_HOME>/cache/jax; ``off`` disables it (a fresh process each: it is set once)."""
    import os
    import subprocess
    import sys

    code = (
        "from spendlab.measure.mmm.inference import compilation_cache; print(compilation_cache())"
    )
    env = {k: v for k, v in os.environ.items() if k != "SPENDLAB_JAX_CACHE"}

    def folder(**extra: str) -> str:
        run = [sys.executable, "-c", code]
        res = subprocess.run(run, env={**env, **extra}, capture_output=True, text=True, check=True)
        return res.stdout.strip()

    assert folder(SPENDLAB_HOME=str(tmp_path / "home")) == str(tmp_path / "home" / "cache" / "jax")
    assert (tmp_path / "home" / "cache" / "jax").is_dir()
    assert folder(SPENDLAB_JAX_CACHE=str(tmp_path / "jit")) == str(tmp_path / "jit")
    assert folder(SPENDLAB_JAX_CACHE="off") == "None"
