"""The files of one model run, in a folder (``WORKSPACE/mmm/runs/<id>/`` or ``mmm fit --out``):

- ``config.json``: the :class:`~spendlab.measure.mmm.config.MMMConfig` (``to_dict``);
- ``run.json``: data hash, code version, method, diagnostics, sampler details, fit seconds;
- ``data.csv``: the rows fitted;
- ``posterior.npz``: the samples, shaped (chains, draws, ...).

:func:`save_run` writes them; :func:`read_run` reads them back as plain pieces, and the
estimator rebuilds the fitted model from those (``MMM.load``, ``GeoMMM.load``, or
``spendlab.measure.mmm.load_mmm`` for either). This module knows no estimator class, so the
estimators and the run index can both import it without a cycle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spendlab import __version__
from spendlab.errors import ConfigError
from spendlab.measure.mmm.config import MMMConfig

RUN_VERSION = 1


@dataclass(frozen=True)
class SavedRun:
    """A run folder's contents: what was fitted (``config``, ``frame``) and the result
    (``samples``, ``meta`` = run.json)."""

    folder: Path
    config: MMMConfig
    frame: pd.DataFrame
    meta: dict[str, Any]
    samples: dict[str, np.ndarray]


def save_run(model: Any, run_dir: str | Path) -> Path:
    """Write a fitted model's files into ``run_dir`` (created); returns the folder."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(model.config.to_dict(), indent=2))
    meta = {
        "version": RUN_VERSION,
        "code_version": __version__,
        "data_hash": model.prep_.data_hash,
        "method": model.method_,
        "fit_seconds": model.fit_seconds_,
        "diagnostics": model.diagnostics_,
        "inference_info": getattr(model, "inference_info_", {}),
        "rows": len(model.data_),
    }
    (run / "run.json").write_text(json.dumps(meta, indent=2, default=str))
    cfg = model.config
    cols = [cfg.date, cfg.target, *cfg.channels, *cfg.controls, *cfg.events]
    cols += [c for c in (cfg.geo, cfg.population) if c is not None]  # geo runs
    model.data_[cols].to_csv(run / "data.csv", index=False)
    np.savez_compressed(run / "posterior.npz", **model.samples_)
    return run


def read_run(run_dir: str | Path) -> SavedRun:
    """The files of a run folder (no model is built here)."""
    run = Path(run_dir)
    if not (run / "run.json").exists():
        raise ConfigError(f"{run} is not an MMM run folder (no run.json); pass the --out of a fit")
    cfg = MMMConfig.from_dict(json.loads((run / "config.json").read_text()))
    meta = json.loads((run / "run.json").read_text())
    geo_as_text = {cfg.geo: str} if cfg.geo else None
    df = pd.read_csv(
        run / "data.csv", parse_dates=[cfg.date], float_precision="round_trip", dtype=geo_as_text
    )
    with np.load(run / "posterior.npz") as npz:
        samples = {k: npz[k] for k in npz.files}
    return SavedRun(run, cfg, df, meta, samples)


__all__ = ["RUN_VERSION", "SavedRun", "read_run", "save_run"]
