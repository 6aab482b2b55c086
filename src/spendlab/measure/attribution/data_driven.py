"""Data-driven attribution: a classifier of conversion on path features, credit by Shapley values
of its predicted conversion probability (in the spirit of GA4's data-driven attribution).

Features of a path (``features="path"``, the default), per channel ``c``: exposure (0/1),
``log1p`` of the touch count, first touch is ``c``, last touch is ``c``, recency of ``c``'s last
touch (``1 / (1 + k)`` for the touch ``k`` steps before the end, 0 when absent); plus
``log1p(path length)``. ``features="exposure"`` keeps the exposure columns only.

The classifier is fitted on the distinct paths, weighted by their conversions (label 1) and nulls
(label 0), so a path table of any size trains on ``2 x distinct paths`` rows. For a converting
path ``T`` with distinct channels ``M``, the game is ``v(S) = p(T restricted to the touches of
S) - p(empty path)`` over ``S`` subset of ``M`` (the order of the kept touches is preserved, so
position, recency and count features change with ``S``); the path's conversions (and value) are
shared among ``M`` in proportion to the positive parts of the exact Shapley values of ``v``,
evenly when none is positive. All sub-paths of all converting paths are featurised and scored in
vectorised batches.
"""

from __future__ import annotations

import numpy as np

from spendlab.errors import ConfigError
from spendlab.measure.attribution.base import AttributionModel
from spendlab.measure.attribution.paths import PathCounts
from spendlab.measure.attribution.shapley import shapley_rows

#: Most distinct channels in one converting path (2**m sub-paths are scored per path).
MAX_PATH_CHANNELS = 14
_BATCH_ROWS = 1 << 16  # sub-paths scored per batch


def path_features(
    steps: np.ndarray, offsets: np.ndarray, n_channels: int, kind: str = "path"
) -> np.ndarray:
    """Feature matrix (paths x features) of flat paths; see the module doc for the columns."""
    n_paths = offsets.size - 1
    lengths = np.diff(offsets)
    pidx = np.repeat(np.arange(n_paths), lengths)
    cell = pidx * n_channels + steps.astype(np.int64)
    count = np.bincount(cell, minlength=n_paths * n_channels).reshape(n_paths, n_channels)
    exposure = (count > 0).astype(float)
    if kind == "exposure":
        return exposure
    # first/last only on paths of 2+ touches: on every path they would sum to 1 (the intercept),
    # leaving the empty path's probability, the base of the Shapley game, unidentified
    nonempty = np.flatnonzero(lengths > 1)
    first = np.zeros((n_paths, n_channels))
    last = np.zeros((n_paths, n_channels))
    first[nonempty, steps[offsets[:-1][nonempty]]] = 1.0
    last[nonempty, steps[offsets[1:][nonempty] - 1]] = 1.0
    back = (offsets[1:][pidx] - 1 - np.arange(steps.size)).astype(float)  # steps before the end
    recency = np.zeros(n_paths * n_channels)
    np.maximum.at(recency, cell, 1.0 / (1.0 + back))
    return np.column_stack(
        [
            exposure,
            np.log1p(count),
            first,
            last,
            recency.reshape(n_paths, n_channels),
            np.log1p(lengths),
        ]
    )


class DataDrivenAttribution(AttributionModel):
    """``classifier``: ``"logistic"`` (scikit-learn, L2, C=``c``) or ``"lightgbm"``
    (``n_estimators`` trees, ``num_threads`` threads; set it explicitly on shared machines).
    ``features``: ``"path"`` (default) or ``"exposure"`` (see the module doc)."""

    name = "data_driven"

    def __init__(
        self,
        classifier: str = "logistic",
        *,
        features: str = "path",
        c: float = 1.0,
        n_estimators: int = 100,
        num_threads: int = 1,
        seed: int = 0,
    ) -> None:
        if classifier not in ("logistic", "lightgbm"):
            raise ConfigError(f"classifier = {classifier!r}; use 'logistic' or 'lightgbm'")
        if features not in ("path", "exposure"):
            raise ConfigError(f"features = {features!r}; use 'path' or 'exposure'")
        self.classifier = classifier
        self.features = features
        self.c = c
        self.n_estimators = n_estimators
        self.num_threads = num_threads
        self.seed = seed

    def _model(self):  # type: ignore[no-untyped-def]
        if self.classifier == "logistic":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=self.c, max_iter=2000)
        import lightgbm as lgb

        return lgb.LGBMClassifier(
            n_estimators=self.n_estimators,
            num_threads=self.num_threads,
            random_state=self.seed,
            min_child_samples=5,
            verbose=-1,
        )

    def _features(self, steps: np.ndarray, offsets: np.ndarray, n: int) -> np.ndarray:
        return path_features(steps, offsets, n, self.features)

    def _credit(self, paths: PathCounts) -> tuple[np.ndarray, np.ndarray]:
        n = len(paths.channels)
        x = self._features(paths.steps, paths.offsets, n)
        xx = np.concatenate([x, x])
        y = np.concatenate([np.ones(paths.n_paths), np.zeros(paths.n_paths)])
        w = np.concatenate([paths.conversions, paths.nulls])
        keep = w > 0
        model = self._model()
        if len(np.unique(y[keep])) < 2:
            model = None  # every journey converted (or none did): no contrast to learn from
        else:
            model.fit(xx[keep], y[keep], sample_weight=w[keep])
        del xx
        self.model_ = model
        # distinct channels of every path, in channel order, and each step's rank among them
        pidx = paths.path_index
        key = pidx * n + paths.steps.astype(np.int64)
        uniq, local = np.unique(key, return_inverse=True)
        owner = uniq // n
        first_key = np.searchsorted(owner, np.arange(paths.n_paths))
        local = local - first_key[pidx]
        m = np.bincount(owner, minlength=paths.n_paths)
        out_c = np.zeros(n)
        out_v = np.zeros(n)
        converting = np.flatnonzero(paths.conversions > 0)
        too_many = converting[m[converting] > MAX_PATH_CHANNELS]
        if too_many.size:
            raise ConfigError(
                f"a converting path has {int(m[too_many[0]])} distinct channels (limit "
                f"{MAX_PATH_CHANNELS} for data-driven attribution); group rare channels or "
                "keep the last touches (JourneyConfig(last_n=...))"
            )
        for size in np.unique(m[converting]):
            group = converting[m[converting] == size]
            per = max(1, _BATCH_ROWS // (1 << int(size)))
            for a in range(0, group.size, per):
                rows = group[a : a + per]
                share = self._shares(paths, rows, int(size), local, model, n)
                members = (uniq[first_key[rows][:, None] + np.arange(size)] % n).ravel()
                np.add.at(out_c, members, (paths.conversions[rows][:, None] * share).ravel())
                np.add.at(out_v, members, (paths.value[rows][:, None] * share).ravel())
        return out_c, out_v

    def _shares(
        self,
        paths: PathCounts,
        rows: np.ndarray,
        m: int,
        local: np.ndarray,
        model: object,
        n: int,
    ) -> np.ndarray:
        """Credit shares (rows x m) of the distinct channels of the paths ``rows``."""
        if model is None:
            return np.full((rows.size, m), 1.0 / m)
        subsets = 1 << m
        lengths = paths.lengths[rows]
        starts = paths.offsets[rows]
        # every path's steps repeated once per subset: (path, subset, step)
        rep_len = np.repeat(lengths, subsets)  # length of each (path, subset) before filtering
        base = np.repeat(starts, subsets)
        within = np.arange(int(rep_len.sum())) - np.repeat(np.cumsum(rep_len) - rep_len, rep_len)
        flat = np.repeat(base, rep_len) + within
        subset = np.repeat(np.tile(np.arange(subsets), rows.size), rep_len)
        kept = ((subset >> local[flat]) & 1).astype(bool)
        sub_steps = paths.steps[flat[kept]]
        owner = np.repeat(np.arange(rows.size * subsets), rep_len)[kept]
        sub_len = np.bincount(owner, minlength=rows.size * subsets)
        offsets = np.concatenate([[0], np.cumsum(sub_len)])
        p = model.predict_proba(self._features(sub_steps, offsets, n))[:, 1]  # type: ignore[attr-defined]
        p = p.reshape(rows.size, subsets)
        phi = np.maximum(shapley_rows(p - p[:, :1], m), 0.0)
        total = phi.sum(axis=1, keepdims=True)
        even = np.full_like(phi, 1.0 / m)
        return np.where(total > 0, phi / np.where(total > 0, total, 1.0), even)
