"""Pick the estimator from the config: the national ``MMM`` or the geo-level ``GeoMMM``.

    model = make_mmm(MMMConfig(..., geo="geo")).fit(df)      # a GeoMMM
    model = load_mmm("WORKSPACE/mmm/runs/<id>")              # either kind, from its files

``MMM(config)`` and ``GeoMMM(config)`` build exactly the class named and refuse a config of the
other kind (a :class:`~spendlab.errors.ConfigError` that points here), so a reader always sees
which estimator runs. This module sits above both (it imports them; neither imports it).
"""

from __future__ import annotations

from pathlib import Path

from spendlab.measure.mmm.config import MMMConfig
from spendlab.measure.mmm.estimator import MMM
from spendlab.measure.mmm.geo_estimator import GeoMMM
from spendlab.measure.mmm.run_files import read_run


def estimator_class(config: MMMConfig) -> type[MMM]:
    """``GeoMMM`` when ``config.geo`` names a geo column, else ``MMM``."""
    return GeoMMM if config.geo else MMM


def make_mmm(config: MMMConfig) -> MMM:
    """An unfitted estimator for ``config`` (``GeoMMM`` when ``config.geo`` is set)."""
    return estimator_class(config)(config)


def load_mmm(run_dir: str | Path) -> MMM:
    """The fitted model saved in ``run_dir`` (national or geo), without refitting."""
    config = read_run(run_dir).config
    return estimator_class(config).load(run_dir)


__all__ = ["estimator_class", "load_mmm", "make_mmm"]
