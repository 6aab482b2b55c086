"""Data-driven attribution: a classifier of conversion on path features, credit by Shapley values
of its predicted conversion probability (in the spirit of GA4's data-driven attribution).

Features are the channel exposure indicators of a journey (one column per channel), so the model
predicts ``p(S)`` for any coalition ``S``. Each converting channel set ``T`` shares its
conversions (and value) among its channels in proportion to the positive parts of the exact
Shapley values of the game ``v(S) = p(S) - p({})`` restricted to subsets of ``T``; when no
channel has a positive value the conversions are split evenly. Rows are weighted by the path
counts, so a path table of any size trains on ``2 x unique channel sets`` rows.
"""

from __future__ import annotations

import numpy as np

from spendlab.errors import ConfigError
from spendlab.measure.attribution.base import AttributionModel
from spendlab.measure.attribution.paths import PathCounts
from spendlab.measure.attribution.shapley import MAX_CHANNELS, shapley_lattice


def _bits(masks: np.ndarray, n: int) -> np.ndarray:
    return ((masks[:, None] >> np.arange(n)) & 1).astype(float)


class DataDrivenAttribution(AttributionModel):
    """``classifier``: ``"logistic"`` (scikit-learn, L2, C=``c``) or ``"lightgbm"``
    (``n_estimators`` trees, ``num_threads`` threads; set it explicitly on shared machines)."""

    name = "data_driven"

    def __init__(
        self,
        classifier: str = "logistic",
        *,
        c: float = 1.0,
        n_estimators: int = 100,
        num_threads: int = 1,
        seed: int = 0,
    ) -> None:
        if classifier not in ("logistic", "lightgbm"):
            raise ConfigError(f"classifier = {classifier!r}; use 'logistic' or 'lightgbm'")
        self.classifier = classifier
        self.c = c
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    def _model(self):  # type: ignore[no-untyped-def]
        if self.classifier == "logistic":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=self.c, max_iter=1000)
        import lightgbm as lgb

        return lgb.LGBMClassifier(
            n_estimators=self.n_estimators,
            num_threads=self.num_threads,
            random_state=self.seed,
            min_child_samples=5,
            verbose=-1,
        )

    def _credit(self, paths: PathCounts) -> tuple[np.ndarray, np.ndarray]:
        n = len(paths.channels)
        masks = paths.channel_sets()
        uniq, inv = np.unique(masks, return_inverse=True)
        conv = np.bincount(inv, weights=paths.conversions, minlength=uniq.size)
        nulls = np.bincount(inv, weights=paths.nulls, minlength=uniq.size)
        value = np.bincount(inv, weights=paths.value, minlength=uniq.size)
        x = _bits(np.concatenate([uniq, uniq]), n)
        y = np.concatenate([np.ones(uniq.size), np.zeros(uniq.size)])
        w = np.concatenate([conv, nulls])
        keep = w > 0
        model = self._model()
        if len(np.unique(y[keep])) < 2:
            model = None  # every journey converted: no contrast to learn from
        else:
            model.fit(x[keep], y[keep], sample_weight=w[keep])
        self.model_ = model
        out_c = np.zeros(n)
        out_v = np.zeros(n)
        for t, ct, vt in zip(uniq, conv, value, strict=True):
            if ct <= 0:
                continue
            members = np.flatnonzero((int(t) >> np.arange(n)) & 1)
            m = members.size
            if m > MAX_CHANNELS:
                raise ConfigError(f"a journey has {m} distinct channels; limit {MAX_CHANNELS}")
            local = np.arange(1 << m)
            glob = (((local[:, None] >> np.arange(m)) & 1) << members).sum(axis=1)
            if model is None:
                share = np.full(m, 1.0 / m)
            else:
                p = model.predict_proba(_bits(glob, n))[:, 1]
                phi = np.maximum(shapley_lattice(p - p[0], m), 0.0)
                share = phi / phi.sum() if phi.sum() > 0 else np.full(m, 1.0 / m)
            out_c[members] += ct * share
            out_v[members] += vt * share
        return out_c, out_v
