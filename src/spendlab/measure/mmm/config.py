"""Configuration of a marketing-mix model run (frozen; stored with every run)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from spendlab.errors import ConfigError
from spendlab.measure.mmm.transforms import ADSTOCKS, SATURATIONS


@dataclass(frozen=True)
class LiftTest:
    """A measured incremental outcome of one channel over ``start``..``end`` (inclusive dates).

    ``incremental`` is in the target's units (e.g. revenue, not a percentage) over the whole window:
    the outcome caused by the channel's spend in that window (the channel on vs off).
    ``standard_error`` is that estimate's standard error, in the same units. ``geo`` (geo models
    only): the test ran in that geo; None: on the national total (sum over geos).
    """

    channel: str
    start: str
    end: str
    incremental: float
    standard_error: float
    geo: str | None = None


@dataclass(frozen=True)
class MMMConfig:
    """What to fit and how.

    ``iroas_prior`` maps a channel to ``(mean, sd)`` of its prior iROAS (target units per unit of
    spend over the fitting period); channels not listed get ``default_iroas_prior`` or, when that
    is None, a prior scaled from the data (mean = sd = 0.2 x total target / total spend: "media
    drives about a fifth of the outcome"). ``holdout`` is the number of final periods kept out of
    the likelihood to score out-of-sample fit. ``fast`` replaces NUTS by a Laplace approximation
    around the MAP.
    """

    date: str
    target: str
    channels: tuple[str, ...]
    controls: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    adstock: str = "geometric"
    saturation: str = "hill"
    max_lag: int | None = None  # None: 8 weeks (weekly) or 21 days (daily)
    yearly_order: int = 3
    weekly_order: int = 2  # daily data only
    trend: bool = True
    nonneg_baseline: bool = True
    baseline: str = "additive"  # floored at zero; or "multiplicative": see model.baseline_of
    iroas_prior: dict[str, tuple[float, float]] = field(default_factory=dict)
    default_iroas_prior: tuple[float, float] | None = None
    lift_tests: tuple[LiftTest, ...] = ()
    holdout: int = 0
    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    fast: bool = False
    fast_steps: int = 3000
    target_accept: float = 0.95
    dense_mass: bool = True
    interval: float = 0.9
    seed: int = 0
    progress_bar: bool = True
    geo: str | None = None  # long input: one row per (date, geo); see geo_model.py
    population: str | None = None  # geo: per-capita scaling by this column (constant per geo)
    pooling: bool = True  # geo: partial pooling of iROAS across geos (False: each geo alone)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "controls", tuple(self.controls))
        object.__setattr__(self, "events", tuple(self.events))
        object.__setattr__(
            self,
            "lift_tests",
            tuple(t if isinstance(t, LiftTest) else LiftTest(**t) for t in self.lift_tests),
        )
        if not self.channels:
            raise ConfigError("no channel given; name at least one spend column (--channel COL)")
        if len(set(self.channels)) != len(self.channels):
            raise ConfigError(f"channels repeat: {list(self.channels)}; list each once")
        if self.adstock not in ADSTOCKS:
            raise ConfigError(f"adstock {self.adstock!r} is unknown; use one of {ADSTOCKS}")
        if self.saturation not in SATURATIONS:
            raise ConfigError(
                f"saturation {self.saturation!r} is unknown; use one of {SATURATIONS}"
            )
        if self.baseline not in ("additive", "multiplicative"):
            raise ConfigError(
                f"baseline {self.baseline!r} is unknown; use 'additive' or 'multiplicative'"
            )
        if not 0.0 < self.interval < 1.0:
            raise ConfigError(f"interval {self.interval} must be in (0, 1), e.g. 0.9")
        if self.chains < 1 or self.draws < 10 or self.warmup < 10:
            raise ConfigError("need chains >= 1, draws >= 10 and warmup >= 10")
        for ch, prior in self.iroas_prior.items():
            if ch not in self.channels:
                raise ConfigError(f"iroas_prior names {ch!r}, which is not a channel")
            if len(prior) != 2 or prior[0] <= 0 or prior[1] <= 0:
                raise ConfigError(f"iroas_prior[{ch!r}] = {prior}: give (mean > 0, sd > 0)")
        if self.geo is None and self.population is not None:
            raise ConfigError("population scaling needs a geo column (--geo COL)")
        if self.geo is None and any(t.geo is not None for t in self.lift_tests):
            raise ConfigError("a lift test names a geo but the model is national; add --geo COL")
        for t in self.lift_tests:
            if t.channel not in self.channels:
                raise ConfigError(f"lift test on {t.channel!r}, which is not a channel")
            if not t.standard_error > 0:
                raise ConfigError(
                    f"lift test on {t.channel!r}: standard_error {t.standard_error} must be > 0 "
                    "(in target units, same as incremental)"
                )

    def to_dict(self) -> dict[str, Any]:
        """What is fitted and how, as JSON-ready values (stored with every run). The display
        option ``progress_bar`` is left out: the same fit from the CLI (bar on) and from a
        server job (bar off) stores the same config."""
        d = dataclasses.asdict(self)
        del d["progress_bar"]
        d["iroas_prior"] = {k: list(v) for k, v in self.iroas_prior.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MMMConfig:
        d = dict(d)
        d["iroas_prior"] = {k: tuple(v) for k, v in d.get("iroas_prior", {}).items()}
        if d.get("default_iroas_prior") is not None:
            d["default_iroas_prior"] = tuple(d["default_iroas_prior"])
        d["lift_tests"] = tuple(LiftTest(**t) for t in d.get("lift_tests", ()))
        return cls(**d)
