"""With one JAX CPU device per core (set before JAX starts, hence subprocesses), NUTS spreads its
4 chains over the devices (pmap, two groups of one chain per device) and the campaign batch splits
its campaigns across devices; both give the same kind of answer as on one device. A second
process reloads the NUTS functions the first saved with ``jax.export`` (no tracing) and
reproduces the same draws."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import jax
from conftest import make_weekly
from test_batch import make_campaigns
from spendlab.measure.mmm import MMM, MMMConfig
from spendlab.measure.mmm.batch import fit_campaigns

df, truth = make_weekly(1, weeks=104)
cfg = MMMConfig(date="date", target="sales", channels=("search", "social"), controls=("price",),
                chains=4, draws=60, warmup=60, yearly_order=1, progress_bar=False)
m = MMM(cfg).fit(df)
camp, ctruth = make_campaigns(n=5, days=120)
out = fit_campaigns(camp, steps=200).set_index("campaign")
print(json.dumps({"devices": jax.local_device_count(),
                  "shape": list(m.samples_["iroas"].shape),
                  "iroas": m.summary()["iroas_mean"].tolist(), "truth": list(truth.values()),
                  "batch": [out.loc[c, "iroas"] / t for c, t in ctruth.items()]}))
"""


@pytest.mark.slow
def test_chains_and_campaigns_split_over_cpu_devices(tmp_path):
    here = Path(__file__).parent
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               SPENDLAB_JAX_CACHE=str(tmp_path / "cache"))  # fmt: skip

    def run() -> dict:
        res = subprocess.run([sys.executable, "-c", SCRIPT, str(here)], env=env, text=True,
                             capture_output=True, timeout=600, check=True)  # fmt: skip
        return json.loads(res.stdout.strip().splitlines()[-1])

    got = run()
    saved = sorted(p.name.split("-")[1] for p in (tmp_path / "cache").glob("spendlab-*"))
    assert saved == ["nuts_init", "nuts_step"]
    assert run()["iroas"] == got["iroas"]  # reloaded functions, same draws
    assert got["devices"] == 2 and got["shape"] == [4, 60, 2]
    for est, true in zip(got["iroas"], got["truth"], strict=True):
        assert 0.5 < est / true < 1.5  # 60 draws: loose, the point is the device split
    assert all(0.7 < r < 1.3 for r in got["batch"])
