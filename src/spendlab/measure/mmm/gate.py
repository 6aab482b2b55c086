"""The gate a fitted marketing-mix model passes before its curves drive budgets.

A fit becomes the workspace's active curve set (what planning, scenarios and
``get_recommendations`` use) only when every check below passes; otherwise it is stored, not
activated, and the result lists the failed checks with what to do (:mod:`spendlab.plan.mmm_fit`).

=================  ==========================================================================
check              passes when (defaults in :class:`GateBounds`)
=================  ==========================================================================
``inference``      the posterior was sampled with NUTS. A fast (Laplace) fit never passes: it
                   has no convergence evidence (no R-hat, its "ESS" is just the number of draws)
                   and a Gaussian at the mode understates the uncertainty of skewed, saturated
                   posteriors, the very case where a model misleads a budget (the demo market's
                   ``--fast`` fit put google_ads at 8.49 [7.84, 9.16] against a true 2.16).
                   Use it as a preview; ``--activate`` forces it and is recorded.
``rhat``           rank-normalised split R-hat of every parameter <= 1.01 (NUTS)
``divergences``    no divergent transitions (NUTS)
``ess_bulk``       bulk ESS of every parameter >= 400 (NUTS)
``holdout_mape``   MAPE on the holdout periods <= 0.20, when a holdout was used (SKIP otherwise)
``iroas``          per channel: the iROAS mean is at most the upper edge of the central 95% of
                   the channel's iROAS prior (log-normal; the default prior says "media drives
                   about a fifth of the outcome", a prior the user set, e.g. from a lift test,
                   is the evidence that backs a channel). Only the upper edge: a channel the
                   data pulls to zero is a finding, and it moves money away, not towards it.
``curve_shape``    per channel: the Hill shape ``s`` (posterior median) <= 5 (no step function;
                   the prior puts 99.9% below 4.6), and the half-saturation spend is at least
                   0.25 x the channel's 5th percentile of non-zero spend per period: below that
                   the curve is >= 80% saturated wherever the channel ever ran, so the data
                   cannot show its shape and its contribution is a constant that can stand in
                   for the baseline (how an always-on channel absorbs it).
=================  ==========================================================================

``gate(model_or_summary)`` takes a fitted model (:func:`gate_input` builds the summary) or
that summary (``MMM.to_json()`` with, per channel, optional ``prior`` ``{"mean", "hi"}`` and
``shape`` ``{"type", "s", "half", "spend_p05"}``); a check whose input is missing is SKIP.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass(frozen=True)
class GateBounds:
    """The gate's bounds (see the module docstring for why each)."""

    rhat_max: float = 1.01
    divergences_max: int = 0
    ess_bulk_min: float = 400.0
    holdout_mape_max: float = 0.20
    iroas_prior_z: float = 1.96  # upper edge of the prior's central 95%
    slope_max: float = 5.0
    half_min_ratio: float = 0.25  # half-saturation / 5th percentile of non-zero spend


@dataclass
class GateResult:
    """``passed`` and one row per check: ``check``, ``channel`` (per-channel checks), ``status``
    (PASS / FAIL / SKIP), ``value``, ``bound``, ``advice``."""

    passed: bool
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["status"] == FAIL]

    def reason(self) -> str:
        """One line: which checks failed (empty when passed)."""
        return "; ".join(_label(c) for c in self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": self.checks,
            "failed": [_label(c) for c in self.failed],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GateResult:
        return cls(passed=bool(d["passed"]), checks=list(d.get("checks") or []))


def _label(c: dict[str, Any]) -> str:
    where = f"[{c['channel']}]" if c.get("channel") else ""
    value = c["value"]
    shown = f"{value:.4g}" if isinstance(value, float) else value
    return f"{c['check']}{where} = {shown} (bound {c['bound']})"


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def gate(model_or_summary: Any, bounds: GateBounds | None = None) -> GateResult:
    """Evaluate the gate on a fitted model or its summary (see the module docstring)."""
    b = bounds or GateBounds()
    s = model_or_summary
    if not isinstance(s, dict):
        s = gate_input(s)
    rows: list[dict[str, Any]] = []

    def add(check: str, status: str, value: Any, bound: Any, advice: str, channel: str = ""):
        row = {
            "check": check,
            "status": status,
            "value": value,
            "bound": bound,
            "advice": "ok" if status == PASS else advice,
        }
        if channel:
            row = {
                "check": check,
                "channel": channel,
                **{k: v for k, v in row.items() if k != "check"},
            }
        rows.append(row)

    diag = s.get("diagnostics") or {}
    method = str(diag.get("method") or "nuts")
    nuts = method == "nuts"
    add(
        "inference",
        PASS if nuts else FAIL,
        method,
        "nuts",
        "a fast (Laplace) fit has no convergence evidence: refit without --fast before it drives "
        "budgets, or force it with --activate",
    )
    rhat = _finite(diag.get("rhat_max"))
    if not nuts:
        add("rhat", SKIP, None, f"<= {b.rhat_max}", "no R-hat in fast mode")
    else:
        ok = rhat is not None and rhat <= b.rhat_max
        add(
            "rhat",
            PASS if ok else FAIL,
            rhat,
            f"<= {b.rhat_max}",
            "chains disagree: run more warm-up and draws (--tune, --draws) with >= 2 chains, "
            "or set an iroas_prior for the channel that drifts",
        )
    div = diag.get("divergences")
    if not nuts:
        add("divergences", SKIP, None, f"<= {b.divergences_max}", "no sampler in fast mode")
    else:
        ok = div is not None and int(div) <= b.divergences_max
        add(
            "divergences",
            PASS if ok else FAIL,
            div,
            f"<= {b.divergences_max}",
            "the sampler hit a region it cannot explore: raise target_accept, tighten the "
            "priors or drop a collinear channel/control",
        )
    ess = _finite(diag.get("ess_bulk_min"))
    if not nuts:
        add("ess_bulk", SKIP, None, f">= {b.ess_bulk_min:g}", "no ESS in fast mode")
    else:
        ok = ess is not None and ess >= b.ess_bulk_min
        add(
            "ess_bulk",
            PASS if ok else FAIL,
            ess,
            f">= {b.ess_bulk_min:g}",
            "too few effective draws: increase --draws (or --chains)",
        )
    mape = _finite(((s.get("fit") or {}).get("holdout") or {}).get("mape"))
    if mape is None:
        add("holdout_mape", SKIP, None, f"<= {b.holdout_mape_max}", "no holdout was used")
    else:
        add(
            "holdout_mape",
            PASS if mape <= b.holdout_mape_max else FAIL,
            mape,
            f"<= {b.holdout_mape_max}",
            "the model forecasts the held-out periods poorly: add the controls/events that "
            "explain the outcome, or check the trend",
        )
    for ch, c in (s.get("channels") or {}).items():
        _channel_checks(add, b, str(ch), c)
    return GateResult(passed=not any(r["status"] == FAIL for r in rows), checks=rows)


def _channel_checks(add: Any, b: GateBounds, ch: str, c: dict[str, Any]) -> None:
    iroas = _finite((c.get("iroas") or {}).get("mean"))
    hi = _finite((c.get("prior") or {}).get("hi"))
    if iroas is None or hi is None:
        add("iroas", SKIP, iroas, None, "no prior recorded for this channel", ch)
    else:
        add(
            "iroas",
            PASS if iroas <= hi else FAIL,
            iroas,
            f"<= {hi:.4g}",
            f"iROAS far above its prior's bulk (prior mean {c['prior'].get('mean', 0):.3g}): "
            "often an always-on channel absorbing the baseline; back it with a lift test "
            "(iroas_prior from the experiment) or add the controls that explain the baseline",
            ch,
        )
    shape = c.get("shape") or {}
    slope, half, p05 = (_finite(shape.get(k)) for k in ("s", "half", "spend_p05"))
    if slope is not None and slope > b.slope_max:
        add(
            "curve_shape",
            FAIL,
            slope,
            f"s <= {b.slope_max:g}",
            "the saturation curve is a step function, not a fit: use saturation "
            "'michaelis_menten' or 'logistic', or more data for this channel",
            ch,
        )
        return
    if half is None or p05 is None or p05 <= 0:
        add("curve_shape", SKIP, None, None, "no curve parameters recorded", ch)
        return
    ratio = half / p05
    add(
        "curve_shape",
        PASS if ratio >= b.half_min_ratio else FAIL,
        ratio,
        f"half / p05 spend >= {b.half_min_ratio:g}",
        "the curve is saturated wherever the channel ever ran, so the data cannot show its "
        "shape: set an iroas_prior (e.g. from a lift test) or vary this channel's spend",
        ch,
    )


def gate_input(model: Any, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The gate's input from a fitted :class:`~spendlab.measure.mmm.estimator.MMM`: its
    ``to_json()`` (or ``summary``) with each channel's ``prior`` (mean and the upper edge of
    the central 95%, from the log-normal iROAS prior the fit used) and ``shape`` (posterior
    median Hill ``s`` and half-saturation spend, or the logistic's equivalent, and the 5th
    percentile of the channel's non-zero spend per period). Channels whose prior or curves the
    model does not expose (e.g. a geo model) get neither: those checks are SKIP."""
    out = dict(summary if summary is not None else model.to_json())
    chans = {k: dict(v) for k, v in (out.get("channels") or {}).items()}
    priors: dict[str, dict[str, float]] = {}
    try:
        from spendlab.measure.mmm.model import iroas_prior_params

        mus, sigmas = iroas_prior_params(model.config, model.prep_)
        z = GateBounds().iroas_prior_z
        for ch, mu, sg in zip(model.channels, mus, sigmas, strict=True):
            priors[ch] = {
                "mean": float(np.exp(mu + sg * sg / 2)),
                "hi": float(np.exp(mu + z * sg)),
                "source": "user" if ch in model.config.iroas_prior else "default",
            }
    except (AttributeError, TypeError, ValueError):
        priors = {}
    shapes: dict[str, dict[str, Any]] = {}
    try:
        frame = model.response_curve_params()
        prep = model.prep_
        spend = np.asarray(prep.spend, dtype=float)[: prep.n_train]
        for c, ch in enumerate(model.channels):
            g = frame[frame["channel"] == ch]
            col = spend[:, c]
            pos = col[col > 0]
            kind = str(g["type"].iloc[0])
            if kind == "logistic":  # tanh(lam x / 2) = 1/2 at x = ln(3) / lam
                half, slope = float(np.median(np.log(3.0) / g["lam"])), None
            else:
                half, slope = float(np.median(g["half"])), float(np.median(g["s"]))
            shapes[ch] = {
                "type": kind,
                "s": slope,
                "half": half,
                "spend_p05": float(np.quantile(pos, 0.05)) if pos.size else None,
            }
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        shapes = {}
    for ch, c in chans.items():
        if ch in priors:
            c["prior"] = priors[ch]
        if ch in shapes:
            c["shape"] = shapes[ch]
    out["channels"] = chans
    return out


def bounds_dict(bounds: GateBounds | None = None) -> dict[str, Any]:
    return asdict(bounds or GateBounds())


__all__ = ["GateBounds", "GateResult", "bounds_dict", "gate", "gate_input"]
