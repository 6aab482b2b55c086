"""Model runs as files: ``config.json``, ``run.json`` (data hash, code version, method,
diagnostics, fit seconds), ``data.csv`` (the rows fitted) and ``posterior.npz`` (samples shaped
(chains, draws, ...)). ``MMM.load(run_dir)`` rebuilds the fitted model without refitting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spendlab import __version__
from spendlab.errors import ConfigError
from spendlab.measure.mmm.config import MMMConfig
from spendlab.measure.mmm.data import prepare

RUN_VERSION = 1


def save_run(model: Any, run_dir: str | Path) -> Path:
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
        "rows": len(model.data_),
    }
    (run / "run.json").write_text(json.dumps(meta, indent=2, default=str))
    cols = [model.config.date, model.config.target, *model.config.channels,
            *model.config.controls, *model.config.events]  # fmt: skip
    model.data_[cols].to_csv(run / "data.csv", index=False)
    np.savez_compressed(run / "posterior.npz", **model.samples_)
    return run


def load_run(cls: type, run_dir: str | Path) -> Any:
    run = Path(run_dir)
    if not (run / "run.json").exists():
        raise ConfigError(f"{run} is not an MMM run folder (no run.json); pass the --out of a fit")
    cfg = MMMConfig.from_dict(json.loads((run / "config.json").read_text()))
    meta = json.loads((run / "run.json").read_text())
    df = pd.read_csv(run / "data.csv", parse_dates=[cfg.date], float_precision="round_trip")
    prep = prepare(df, cfg, warn=False)
    if prep.data_hash != meta["data_hash"]:
        raise ConfigError(f"{run}/data.csv does not match the run's data hash; it was edited")
    with np.load(run / "posterior.npz") as npz:
        samples = {k: npz[k] for k in npz.files}
    model = cls(cfg)
    model._set(df, prep, samples, meta["method"], meta["diagnostics"]["divergences"],
               meta["fit_seconds"])  # fmt: skip
    return model
