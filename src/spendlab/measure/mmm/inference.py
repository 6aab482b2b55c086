"""Inference on the hand-written log density (``model.log_density``): NUTS (full posterior, all
chains vectorised in one compiled step, or one chain per JAX CPU device) or a fast mode (MAP, then
a Laplace approximation in the unconstrained space). Both return posterior samples shaped
``(chains, draws, ...)`` as numpy arrays, ``beta`` included.

Compilation is the dominant start-up cost on CPU, so every compiled function takes the data as an
argument (one compilation per model structure and data shape, reused across fits in a process)
and JAX's persistent compilation cache keeps them across processes (see ``compilation_cache``).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc import hmc

from spendlab.measure.mmm import geo_model
from spendlab.measure.mmm import model as national
from spendlab.measure.mmm.config import MMMConfig
from spendlab.measure.mmm.model import Spec
from spendlab.workspace import jax_cache_dir


def _m(spec):
    """The model module of ``spec``: the national model or the geo model (``GeoSpec``)."""
    return geo_model if isinstance(spec, geo_model.GeoSpec) else national


def log_density(spec, u, a):
    return _m(spec).log_density(spec, u, a)


def initial_point(spec, a):
    return _m(spec).initial_point(spec, a)


def draws_from_unconstrained(spec, u, a):
    return _m(spec).draws_from_unconstrained(spec, u, a)


CHUNK = 25  # NUTS iterations per compiled call


@dataclass
class InferenceResult:
    samples: dict[str, np.ndarray]  # (chains, draws, ...)
    divergences: int
    method: str  # "nuts" | "laplace" | "map"
    seconds: float
    info: dict | None = None


_CACHE_DONE: list[str] = []


def compilation_cache(path: str | os.PathLike | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache (once per process) in ``path``, else
    :func:`spendlab.workspace.jax_cache_dir` (``SPENDLAB_JAX_CACHE``, else
    ``<SPENDLAB_HOME>/cache/jax``; ``SPENDLAB_JAX_CACHE=off`` disables it). Returns the folder
    used, or None when off or not writable (fitting works either way)."""
    if _CACHE_DONE:
        return _CACHE_DONE[0] or None
    chosen = Path(path) if path is not None else jax_cache_dir()
    if chosen is None:
        _CACHE_DONE.append("")
        return None
    folder = chosen.expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".probe"
        probe.write_text("ok")
        probe.unlink()
        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except (OSError, AttributeError, ValueError):
        _CACHE_DONE.append("")
        return None
    _CACHE_DONE.append(str(folder))
    return str(folder)


# ------------------------------------------------------------------------------------- NUTS
def _potential_gen(spec: Spec):
    def gen(a):
        return lambda u: -log_density(spec, u, a)

    return gen


@lru_cache(maxsize=32)
def _nuts_fns(spec: Spec, warmup: int, target_accept: float, max_tree_depth: int, dense: bool):
    """NUTS ``init(u0, keys, a)`` and ``step(state, a)`` (``CHUNK`` iterations) over a batch of
    chains with ``vmap``, as plain functions (the caller ``jit``-s them, or ``pmap``-s them over
    the JAX CPU devices with a batch of chains on each)."""
    init_kernel, sample_kernel = hmc(potential_fn_gen=_potential_gen(spec), algo="NUTS")

    def init_one(u, k, a, imm):
        return init_kernel(u, warmup, inverse_mass_matrix=imm, target_accept_prob=target_accept,
                           dense_mass=dense, max_tree_depth=max_tree_depth, model_args=(a,),
                           rng_key=k)  # fmt: skip

    def step(state, a):
        def one(s, _):
            s = jax.vmap(lambda st: sample_kernel(st, model_args=(a,)))(s)
            return s, (s.z, s.diverging, s.num_steps, s.potential_energy)

        return jax.lax.scan(one, state, None, length=CHUNK)

    return jax.vmap(init_one, in_axes=(0, 0, None, None)), step


def laplace_cov(spec, arrays: dict, u_map: np.ndarray) -> np.ndarray | None:
    """The Laplace covariance at the MAP (inverse Hessian of the negative log density), or None
    when the Hessian is not positive definite there. NUTS starts its chains from draws of it and
    its metric (inverse mass matrix) from it, so the first warm-up steps are already scaled to
    the posterior and chains do not wander off into poor secondary modes while the step size and
    metric adapt."""
    try:
        h = np.asarray(_hessian(spec, jnp.asarray(u_map, jnp.float32), arrays), dtype=float)
        inv_l = np.linalg.inv(np.linalg.cholesky(0.5 * (h + h.T)))
        cov = inv_l.T @ inv_l
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None
    return cov if np.all(np.isfinite(cov)) else None


def devices_for(chains: int) -> int:
    """How many JAX CPU devices NUTS spreads ``chains`` over: the largest divisor of ``chains``
    not above the device count. The chains then run in ``chains / devices`` groups of one chain
    per device, the groups stepped in turn. (A batch of several vectorised chains per device
    inside ``pmap`` hung XLA's CPU runtime on the geo model, 4 chains on 2 devices: never do
    that.)"""
    n = max(1, min(chains, jax.local_device_count()))
    while chains % n:
        n -= 1
    return n


def _merge(states: list, parallel: bool):
    """Group states -> one state with a flat chain axis (group-major)."""
    if not parallel:
        return states[0]
    return jax.tree_util.tree_map(
        lambda *xs: np.concatenate([np.asarray(x).reshape((-1,) + np.shape(x)[2:]) for x in xs]),
        *states,
    )


def _split(state, groups: int, ndev: int, parallel: bool) -> list:
    """Inverse of :func:`_merge`."""
    if not parallel:
        return [state]
    return [jax.tree_util.tree_map(
        lambda x, g=g: np.asarray(x)[g * ndev : (g + 1) * ndev].reshape((ndev, 1) + x.shape[1:]),
        state) for g in range(groups)]  # fmt: skip


_COMPILED: dict = {}


def _compiled(name: str, fn, args: tuple, static: tuple, parallel: bool, in_axes: tuple,
              before_trace=None):  # fmt: skip
    """``fn`` compiled for ``args`` (``pmap``-ed over ``in_axes`` when ``parallel``). The traced
    function is also saved with ``jax.export`` next to the compilation cache and reloaded by later
    processes, which then skip tracing as well as compiling (tracing NUTS costs seconds). Any
    failure there (no cache folder, no ``flatbuffers``, an old file) falls back to tracing.
    ``before_trace()`` runs before ``fn`` is traced (not when it comes from disk)."""
    one = args
    if parallel:
        one = tuple(jax.tree_util.tree_map(lambda x: x[0], v) if ax == 0 else v
                    for v, ax in zip(args, in_axes, strict=True))  # fmt: skip
    sig = jax.tree_util.tree_map(lambda x: (np.shape(x), str(jnp.result_type(x))), one)
    key = hashlib.sha256(
        repr((name, static, parallel, sig, jax.tree_util.tree_structure(one), _code_version()))
        .encode()
    ).hexdigest()[:32]  # fmt: skip
    if key in _COMPILED:
        return _COMPILED[key]
    call = None
    folder = compilation_cache()
    if folder:
        try:
            from jax import export

            _register_namedtuples(export)
            path = Path(folder) / f"spendlab-{name}-{key}.jaxexport"
            if path.exists():
                call = export.deserialize(bytearray(path.read_bytes())).call
            else:
                if before_trace is not None:
                    before_trace()
                exp = export.export(jax.jit(fn))(*one)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(exp.serialize())
                tmp.replace(path)
                call = exp.call
        except Exception:  # a cache must never break a fit
            call = None
    if call is None:
        if before_trace is not None:
            before_trace()
        call = fn
    out = jax.pmap(call, in_axes=in_axes) if parallel else jax.jit(call)
    if len(_COMPILED) >= 64:  # a long-running server fitting many model shapes
        _COMPILED.clear()
    _COMPILED[key] = out
    return out


_REGISTERED: list[bool] = []


def _register_namedtuples(export) -> None:
    if not _REGISTERED:
        from numpyro.infer.hmc import HMCState
        from numpyro.infer.hmc_util import HMCAdaptState

        export.register_namedtuple_serialization(HMCState, serialized_name="numpyro.HMCState")
        export.register_namedtuple_serialization(
            HMCAdaptState, serialized_name="numpyro.HMCAdaptState"
        )
        _REGISTERED.append(True)


@lru_cache(maxsize=1)
def _code_version() -> str:
    """Hash of the model and inference code and library versions (keys the saved functions)."""
    import numpyro

    h = hashlib.sha256(f"{jax.__version__}|{numpyro.__version__}".encode())
    for name in ("model.py", "geo_model.py", "transforms.py", "inference.py"):
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()


def run_nuts(spec: Spec, arrays: dict, cfg: MMMConfig) -> InferenceResult:
    """NUTS with ``cfg.chains`` chains, each started at a draw of the Laplace approximation. The
    chains are spread over the JAX CPU devices (``devices_for``; one per core when ``XLA_FLAGS``
    asks for it, as the CLI and server do), one per device in turn, or vectorised on one."""
    compilation_cache()
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(cfg.seed)
    u_map = np.asarray(find_map(spec, arrays, cfg.fast_steps // 3))
    rng = np.random.default_rng(cfg.seed)
    cov = laplace_cov(spec, arrays, u_map)
    if cov is None:  # no usable curvature at the mode: a fixed jitter
        cov = np.eye(u_map.size)
        u0 = u_map[None, :] + rng.uniform(-0.3, 0.3, (cfg.chains, u_map.size))
    else:  # draws from the Laplace approximation: spread like the posterior, parameter by
        # parameter (a fixed jitter is huge for well-determined ones, e.g. the intercept)
        u0 = (
            u_map[None, :]
            + rng.standard_normal((cfg.chains, u_map.size)) @ np.linalg.cholesky(cov).T
        )
    imm = jnp.asarray((cov if cfg.dense_mass else np.diag(cov)).astype(np.float32))
    ndev = devices_for(cfg.chains)
    parallel = ndev > 1
    groups = cfg.chains // ndev if parallel else 1
    static = (spec, cfg.warmup, float(cfg.target_accept), 10, bool(cfg.dense_mass))
    init_fn, step_fn = _nuts_fns(*static)
    u0 = jnp.asarray(u0, dtype=jnp.float32)
    keys = jax.random.split(key, cfg.chains)
    if parallel:  # groups of (devices, 1 chain, ...)
        u0 = u0.reshape((groups, ndev, 1) + u0.shape[1:])
        keys = keys.reshape((groups, ndev, 1) + keys.shape[1:])
    else:
        u0, keys = u0[None], keys[None]
    init = _compiled("nuts_init", init_fn, (u0[0], keys[0], arrays, imm), static, parallel,
                     (0, 0, None, None))  # fmt: skip
    states = [init(u0[g], keys[g], arrays, imm) for g in range(groups)]

    def trace_init() -> None:  # numpyro's step reads settings its init sets when traced
        one = (u0[0, 0], keys[0, 0]) if parallel else (u0[0], keys[0])
        jax.eval_shape(init_fn, *one, arrays, imm)

    step = _compiled("nuts_step", step_fn, (states[0], arrays), static, parallel, (0, None),
                     trace_init)  # fmt: skip
    n_warm = -(-cfg.warmup // CHUNK)  # warm-up chunks: draws past ``warmup`` in the last one
    first = n_warm * CHUNK  # are discarded too (adaptation has ended there)
    zs, divs, steps, pes = [], [], [], []
    chunks = range(n_warm + -(-cfg.draws // CHUNK))
    if cfg.progress_bar:
        try:
            from tqdm.auto import tqdm  # installed with numpyro

            chunks = tqdm(chunks, desc=f"NUTS, {cfg.chains} chains ({CHUNK} iterations a step)")
        except ImportError:
            pass
    restarted: list[dict] = []
    for i in chunks:
        outs = []
        for g in range(groups):
            states[g], out = step(states[g], arrays)
            outs.append(out)
        outs = [tuple(np.asarray(v) for v in out) for out in outs]
        if parallel:  # per group (devices, CHUNK, 1, ...) -> (CHUNK, chains, ...)
            outs = [tuple(np.swapaxes(v, 0, 1).reshape((CHUNK, ndev) + v.shape[3:]) for v in o)
                    for o in outs]  # fmt: skip
        out = tuple(np.concatenate(vs, axis=1) for vs in zip(*outs, strict=True))
        for acc, v in zip((zs, divs, steps, pes), out, strict=True):
            acc.append(v)
        if i == n_warm - 1 and cfg.chains > 1:
            merged, restarted = restart_stuck_chains(
                _merge(states, parallel), np.concatenate(pes)[-100:], 1
            )
            if restarted:
                states = _split(merged, groups, ndev, parallel)
    z = np.concatenate(zs)[first : first + cfg.draws]  # (draws, chains, D)
    div = int(np.concatenate(divs)[first : first + cfg.draws].sum())
    n_steps = np.concatenate(steps)
    u = np.swapaxes(z, 0, 1)  # (chains, draws, D)
    samples = draws_from_unconstrained(spec, u, arrays)
    info = {"grad_evals": int(n_steps.sum()), "mean_tree_steps": float(n_steps.mean()),
            "mean_tree_steps_sampling": float(n_steps[first:].mean()), "devices": ndev,
            "restarted_chains": restarted}  # fmt: skip
    return InferenceResult(samples, div, "nuts", time.perf_counter() - t0, info)


def stuck_chains(pe: np.ndarray, dim: int) -> list[dict]:
    """Chains whose potential energy (negative log density) over the end of warm-up, ``pe``
    ``(iterations, chains)``, sits far above the best chain's: median gap above ``max(20, dim)``
    nats, where a chain sampling the same mode differs by a few (its energy fluctuates with sd
    about ``sqrt(dim / 2)``). Such a chain is in a region with a posterior density at least e^20
    times lower (typically a saturated always-on channel standing in for the intercept), which
    carries no posterior mass worth sampling; it would not leave it in any practical run."""
    med = np.median(pe, axis=0)
    best = int(np.argmin(med))
    cut = max(20.0, float(dim))
    return [{"chain": int(c), "from_chain": best, "gap": float(med[c] - med[best])}
            for c in range(pe.shape[1]) if med[c] - med[best] > cut]  # fmt: skip


def restart_stuck_chains(state, pe: np.ndarray, ndev: int) -> tuple[Any, list[dict]]:
    """At the end of warm-up, move each stuck chain (:func:`stuck_chains`) to the best chain's
    position and adapted step size and metric, keeping its own random key, so it samples the
    posterior's bulk from there. Returns the new state and what was moved (reported in
    ``info["restarted_chains"]`` and on the model-health card)."""
    dim = int(np.prod(np.shape(state.z)[2 if ndev > 1 else 1 :]))
    moved = stuck_chains(pe, dim)
    if not moved:
        return state, []
    lead = 2 if ndev > 1 else 1

    def fix(x):
        x = np.asarray(x)
        flat = x.reshape((-1,) + x.shape[lead:]).copy()
        for m in moved:
            flat[m["chain"]] = flat[m["from_chain"]]
        return flat.reshape(x.shape)

    new = jax.tree_util.tree_map(fix, state)
    return new._replace(rng_key=state.rng_key), moved


# ------------------------------------------------------------------------------------- MAP
@partial(jax.jit, static_argnums=(0, 3))
def _adam_map(spec: Spec, u0: jax.Array, a: dict, steps: int) -> jax.Array:
    """Minimise the negative log density with Adam (lr decaying 0.05 -> 0.005) in one loop."""
    vg = jax.value_and_grad(lambda u: -log_density(spec, u, a))

    def one(carry, i):
        u, m, v = carry
        _, g = vg(u)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mh = m / (1 - 0.9 ** (i + 1))
        vh = v / (1 - 0.999 ** (i + 1))
        lr = 0.05 * 0.1 ** (i / steps)
        return (u - lr * mh / (jnp.sqrt(vh) + 1e-8), m, v), None

    zeros = jnp.zeros_like(u0)
    (u, _, _), _ = jax.lax.scan(one, (u0, zeros, zeros), jnp.arange(steps, dtype=jnp.float32))
    return u


def find_map(spec: Spec, arrays: dict, steps: int) -> jax.Array:
    """The posterior mode in the unconstrained space (Adam from the prior medians)."""
    return _adam_map(spec, initial_point(spec, arrays), arrays, max(int(steps), 100))


@partial(jax.jit, static_argnums=0)
def _hessian(spec: Spec, u: jax.Array, a: dict) -> jax.Array:
    return jax.hessian(lambda v: -log_density(spec, v, a))(u)


@partial(jax.jit, static_argnums=0)
def _log_density_batch(spec: Spec, u: jax.Array, a: dict) -> jax.Array:
    return jax.vmap(lambda v: log_density(spec, v, a))(u)


def run_fast(spec: Spec, arrays: dict, cfg: MMMConfig) -> InferenceResult:
    """MAP, then a Laplace approximation in the unconstrained space (where the density includes
    the log-Jacobian of every transform, so the Gaussian there maps to skewed, positive intervals
    for iROAS, decay and saturation): ``draws`` draws from ``N(MAP, H^-1)`` with ``H`` the exact
    Hessian of the negative log density. ``info["pareto_k"]`` is the Pareto-smoothed importance
    sampling k of those draws (log density minus Gaussian density): above 0.7 the posterior is
    far from Gaussian and NUTS should be preferred before decisions. (Resampling the draws by
    those weights was tried and made the intervals narrower: 75% coverage of 90% intervals against
    87.5% for the plain Laplace draws on the same data sets; see docs/mmm.md.) ``map`` when the
    Hessian is not positive definite (every draw is then the MAP)."""
    compilation_cache()
    t0 = time.perf_counter()
    u_map = find_map(spec, arrays, cfg.fast_steps)
    hess = np.asarray(_hessian(spec, u_map, arrays), dtype=float)
    hess = 0.5 * (hess + hess.T)
    rng = np.random.default_rng(cfg.seed)
    d = u_map.size
    info: dict = {}
    try:
        chol_h = np.linalg.cholesky(hess)
        method = "laplace"
    except np.linalg.LinAlgError:
        method = "map"
    if method == "map":
        u = np.repeat(np.asarray(u_map, dtype=float)[None], cfg.draws, axis=0)
    else:
        eps = rng.standard_normal((cfg.draws, d))
        # u = MAP + L^{-T} eps has covariance (L L^T)^{-1} = H^{-1}
        u = np.asarray(u_map, dtype=float)[None] + np.linalg.solve(chol_h.T, eps.T).T
        logp = np.asarray(_log_density_batch(spec, jnp.asarray(u, jnp.float32), arrays))
        logw = np.where(np.isfinite(logp), logp + 0.5 * np.sum(eps**2, axis=1), -np.inf)
        w, khat = psis_weights(logw)
        info = {"pareto_k": khat, "ess_importance": float(1.0 / np.sum(w**2))}
    samples = draws_from_unconstrained(spec, u[None], arrays)
    return InferenceResult(samples, 0, method, time.perf_counter() - t0, info)


def psis_weights(logw: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed importance weights (normalised) and the shape estimate ``k`` (Vehtari et
    al. 2024): the largest ``M = min(n/5, 3 sqrt(n))`` weights are replaced by the expected order
    statistics of a generalised Pareto fitted to them. ``k < 0.7``: the weights are reliable."""
    logw = np.asarray(logw, dtype=float)
    ok = np.isfinite(logw)
    if not ok.any():
        return np.full(logw.size, 1.0 / logw.size), float("inf")
    logw = np.where(ok, logw - logw[ok].max(), -np.inf)
    w = np.exp(logw)
    n = logw.size
    m = int(min(n / 5, 3 * np.sqrt(n)))
    order = np.argsort(w)
    tail = order[-m:]
    cutoff = w[order[-m - 1]]
    exceed = w[tail] - cutoff
    k = float("inf")
    if not np.any(exceed > 0):  # no tail at all (equal weights): nothing to smooth
        return w / w.sum(), 0.0
    if m >= 5 and cutoff > 0 and np.all(np.isfinite(exceed)):
        k, sigma = _gpd_fit(exceed)
        if np.isfinite(k):
            p = (np.arange(1, m + 1) - 0.5) / m
            q = cutoff + sigma * (np.power(1 - p, -k) - 1) / k if abs(k) > 1e-8 else (
                cutoff - sigma * np.log(1 - p))  # fmt: skip
            w[tail] = np.minimum(q, w.max())
    w = w / w.sum()
    return w, k


def _gpd_fit(x: np.ndarray) -> tuple[float, float]:
    """Generalised Pareto fit ``(k, sigma)`` of exceedances ``x`` (the empirical-Bayes estimate
    of Zhang & Stephens 2009, with PSIS's weak prior pulling ``k`` toward 0.5)."""
    x = np.sort(x)
    n = x.size
    q1 = x[max(int(n / 4 + 0.5) - 1, 0)]
    if q1 <= 0 or x[-1] <= 0:
        return float("inf"), 1.0
    m = 30 + int(np.sqrt(n))
    b = 1 / x[-1] + (1 - np.sqrt(m / (np.arange(1, m + 1) - 0.5))) / (3.0 * q1)
    kk = np.log1p(-b[:, None] * x[None]).mean(axis=1)
    ll = n * (np.log(-b / kk) - kk - 1)
    w = 1 / np.exp(ll[None, :] - ll[:, None]).sum(axis=1)
    b_hat = float(np.sum(b * w))
    k_hat = float(np.log1p(-b_hat * x).mean())
    sigma = -k_hat / b_hat
    return (n * k_hat + 10 * 0.5) / (n + 10), sigma
