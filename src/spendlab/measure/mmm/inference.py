"""Inference: NUTS (full posterior, chains run one after the other on CPU) or a fast Laplace
approximation around the MAP (previews and large batches). Both return posterior samples shaped
``(chains, draws, ...)`` as numpy arrays, deterministic sites included."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC, NUTS, init_to_median
from numpyro.infer.util import initialize_model

from spendlab.measure.mmm.config import MMMConfig
from spendlab.measure.mmm.model import Spec, mmm_model


@dataclass
class InferenceResult:
    samples: dict[str, np.ndarray]  # (chains, draws, ...)
    divergences: int
    method: str  # "nuts" | "laplace" | "map"
    seconds: float


def run_nuts(spec: Spec, arrays: dict, cfg: MMMConfig) -> InferenceResult:
    t0 = time.perf_counter()
    kernel = NUTS(mmm_model, target_accept_prob=cfg.target_accept, init_strategy=init_to_median)
    mcmc = MCMC(
        kernel,
        num_warmup=cfg.warmup,
        num_samples=cfg.draws,
        num_chains=cfg.chains,
        chain_method="sequential",
        progress_bar=cfg.progress_bar,
    )
    mcmc.run(jax.random.PRNGKey(cfg.seed), spec, arrays, extra_fields=("diverging",))
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    div = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
    return InferenceResult(samples, div, "nuts", time.perf_counter() - t0)


def run_fast(spec: Spec, arrays: dict, cfg: MMMConfig) -> InferenceResult:
    """MAP by Adam on the unconstrained log-density (one compiled ``lax.scan``), then a Laplace
    approximation there (Gaussian with the inverse Hessian as covariance); ``map`` when the Hessian
    is not positive definite (then every draw is the MAP)."""
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(cfg.seed)
    info = initialize_model(key, mmm_model, model_args=(spec, arrays), init_strategy=init_to_median)
    z0, unravel = ravel_pytree(info.param_info.z)

    def pot(flat: jax.Array) -> jax.Array:
        return info.potential_fn(unravel(flat))

    z_map = _adam(pot, z0, cfg.fast_steps)
    hess = _fd_hessian(jax.jit(jax.grad(pot)), z_map)
    method = "laplace"
    try:
        cov = np.linalg.inv(0.5 * (hess + hess.T))
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        chol = np.zeros_like(hess)
        method = "map"
    eps = np.random.default_rng(cfg.seed).standard_normal((cfg.draws, z0.size))
    flat = np.asarray(z_map)[None, :] + eps @ chol.T
    post = jax.jit(jax.vmap(lambda f: info.postprocess_fn(unravel(f))))
    samples = {k: np.asarray(v)[None] for k, v in post(jax.numpy.asarray(flat)).items()}
    return InferenceResult(samples, 0, method, time.perf_counter() - t0)


def _adam(fn, z0: jax.Array, steps: int, lr: float = 0.02) -> jax.Array:
    """Minimise ``fn`` with Adam in one compiled loop."""
    vg = jax.value_and_grad(fn)

    def step(carry, i):
        z, m, v = carry
        _, g = vg(z)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mh = m / (1 - 0.9 ** (i + 1))
        vh = v / (1 - 0.999 ** (i + 1))
        return (z - lr * mh / (jnp.sqrt(vh) + 1e-8), m, v), None

    zeros = jnp.zeros_like(z0)
    (z, _, _), _ = jax.jit(
        lambda z: jax.lax.scan(step, (z, zeros, zeros), jnp.arange(steps, dtype=jnp.float32))
    )(z0)
    return z


def _fd_hessian(grad, z: jax.Array, h: float = 1e-2) -> np.ndarray:
    """Hessian by central differences of the compiled gradient (compiling ``jax.hessian`` of the
    model costs more than the 2 x n gradient calls)."""
    n = z.size
    hess = np.zeros((n, n))
    for i in range(n):
        e = jnp.zeros(n).at[i].set(h)
        hess[i] = (np.asarray(grad(z + e), dtype=float) - np.asarray(grad(z - e), dtype=float)) / (
            2 * h
        )
    return 0.5 * (hess + hess.T)
