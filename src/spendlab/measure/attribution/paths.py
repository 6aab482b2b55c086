"""Path counts: the mergeable summary every attribution model reads.

A :class:`PathCounts` holds unique paths (sequences of channel or campaign names) with, per path,
``conversions`` (may be fractional), ``nulls`` (journeys that did not convert) and ``value``
(total conversion value). Two path counts merge by adding counts per path, so a warehouse can
aggregate by partition and merge the results.

Internally the paths are stored flat for vectorised models: ``steps`` (channel index of every
touch, path after path) and ``offsets`` (path ``i`` is ``steps[offsets[i]:offsets[i + 1]]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spendlab.errors import DataError

SEPARATOR = " > "
#: Longest accepted path (touches); longer ones are almost surely a bot or a parsing error.
MAX_PATH_LENGTH = 1000
_ARROWS = ("->", "→", ">")  # never inside a name when the separator is " > "
_OTHER_SEPARATORS = ("|", ",", ";", "\t")


@dataclass(frozen=True)
class PathCounts:
    """Unique paths with conversions, nulls and value.

    ``channels``: names, indexed by the ints in ``steps``. ``steps``/``offsets``: flat paths.
    ``conversions``, ``nulls``, ``value``: float arrays, one entry per path.
    """

    channels: tuple[str, ...]
    steps: np.ndarray
    offsets: np.ndarray
    conversions: np.ndarray
    nulls: np.ndarray
    value: np.ndarray

    @property
    def n_paths(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def path_index(self) -> np.ndarray:
        """Path number of every step."""
        return np.repeat(np.arange(self.n_paths), self.lengths)

    @property
    def position(self) -> np.ndarray:
        """0-based position of every step within its path."""
        return np.arange(self.steps.size) - np.repeat(self.offsets[:-1], self.lengths)

    @property
    def total_conversions(self) -> float:
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        return float(self.value.sum())

    def path(self, i: int) -> tuple[str, ...]:
        return tuple(self.channels[j] for j in self.steps[self.offsets[i] : self.offsets[i + 1]])

    def to_frame(self) -> pd.DataFrame:
        """Columns ``path`` (``' > '``-joined), ``conversions``, ``nulls``, ``value``."""
        names = np.asarray(self.channels, dtype=object)
        paths = [
            SEPARATOR.join(names[self.steps[a:b]])
            for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)
        ]
        return pd.DataFrame(
            {
                "path": paths,
                "conversions": self.conversions,
                "nulls": self.nulls,
                "value": self.value,
            }
        )

    def with_counts(
        self, conversions: np.ndarray, nulls: np.ndarray, value: np.ndarray
    ) -> PathCounts:
        """The same paths with other counts (used by the bootstrap)."""
        return PathCounts(self.channels, self.steps, self.offsets, conversions, nulls, value)

    def merge(self, other: PathCounts) -> PathCounts:
        """Add two path counts (same path -> counts added)."""
        return from_frame(pd.concat([self.to_frame(), other.to_frame()], ignore_index=True))

    def channel_sets(self) -> np.ndarray:
        """Bit mask of the distinct channels of every path (needs at most 62 channels)."""
        if len(self.channels) > 62:
            raise DataError(
                f"{len(self.channels)} channels: set-based models handle at most 62; "
                "use channel granularity or group rare channels"
            )
        bits = np.left_shift(np.int64(1), self.steps.astype(np.int64))
        masks = np.zeros(self.n_paths, dtype=np.int64)
        np.bitwise_or.at(masks, self.path_index, bits)
        return masks


def _fail(problem: str, fix: str, where: str = "") -> DataError:
    return DataError(f"{where}{problem}; {fix}")


def from_frame(
    frame: pd.DataFrame,
    *,
    separator: str = SEPARATOR,
    max_length: int = MAX_PATH_LENGTH,
    source: str = "path table",
) -> PathCounts:
    """Validate a path table (``path``, ``conversions``, ``nulls``, optional ``value``; one row per
    path or per journey) and aggregate it into :class:`PathCounts`.

    Raises :class:`~spendlab.errors.DataError` naming the row (1-based data row + 1 = file line)
    for an empty path or step, a path that uses another separator, negative or non-finite counts,
    value without conversions, or a path longer than ``max_length`` touches.
    """
    missing = [c for c in ("path", "conversions") if c not in frame.columns]
    if missing:
        raise _fail(
            f"{source} lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, frame.columns))})",
            "provide columns path, conversions, nulls and optionally value",
        )
    n = len(frame)
    conv = _numeric(frame, "conversions", source)
    nulls = _numeric(frame, "nulls", source) if "nulls" in frame.columns else np.zeros(n)
    value = _numeric(frame, "value", source) if "value" in frame.columns else np.zeros(n)
    if n == 0:
        raise _fail(f"{source} has no rows", "give at least one path")
    raw = frame["path"]
    if raw.isna().any():
        row = int(np.flatnonzero(raw.isna().to_numpy())[0])
        raise _fail(
            f"row {row + 2}: path is empty", "drop the row or give its touches", f"{source}: "
        )
    # aggregate duplicates first so parsing runs once per unique path
    codes, uniq = pd.factorize(raw, sort=False)
    k = len(uniq)
    agg = pd.DataFrame(
        {
            "path": np.asarray(uniq, dtype=object),
            "c": np.bincount(codes, weights=conv, minlength=k),
            "n": np.bincount(codes, weights=nulls, minlength=k),
            "v": np.bincount(codes, weights=value, minlength=k),
        }
    )
    stripped = agg["path"].astype(str).str.strip()
    if not stripped.equals(agg["path"]):
        agg = agg.assign(path=stripped).groupby("path", sort=False, as_index=False).sum()
    first_row = _RowFinder(raw)
    paths = agg["path"].tolist()
    bad_value = (agg["v"].to_numpy() > 0) & (agg["c"].to_numpy() <= 0)
    if bad_value.any():
        p = paths[int(np.flatnonzero(bad_value)[0])]
        raise _fail(
            f"row {int(first_row[p]) + 2}: path {p[:80]!r} has value but no conversions",
            "value is the total conversion value of the path's conversions; fix the counts",
            f"{source}: ",
        )
    if not any(separator in p for p in paths):
        for other in _OTHER_SEPARATORS:
            hits = [p for p in paths if other in p]
            if len(hits) > len(paths) / 2:
                raise _fail(
                    f"no path uses the separator {separator!r} but {len(hits):,} paths contain "
                    f"{other!r} (e.g. row {int(first_row[hits[0]]) + 2}: {hits[0][:80]!r})",
                    f"separate channel names with {separator!r} or pass separator={other!r}",
                    f"{source}: ",
                )
    arrows = [a for a in (*_ARROWS, separator.strip()) if a]
    # vectorised parse: one split of all paths joined, then checks on the distinct names only
    lengths = np.fromiter((p.count(separator) + 1 for p in paths), dtype=np.int64, count=len(paths))
    too_long = np.flatnonzero(lengths > max_length)
    if too_long.size:
        p = paths[int(too_long[0])]
        raise _fail(
            f"row {int(first_row[p]) + 2}: path has {int(lengths[too_long[0]]):,} touches "
            f"(limit {max_length:,})",
            "truncate paths with last_n (JourneyConfig) or raise max_length",
            f"{source}: ",
        )
    parts = separator.join(paths).split(separator)
    codes, names = pd.factorize(np.asarray(parts, dtype=object))
    clean = [str(x).strip() for x in names]
    for k, name in enumerate(clean):
        problem = None
        if not name:
            problem = "is empty or has an empty step"
        else:
            other = next((a for a in arrows if a in name), None)
            if other is not None:
                problem = f"uses separator {other!r}"
        if problem:
            step = int(np.flatnonzero(codes == k)[0])
            p = paths[int(np.searchsorted(np.cumsum(lengths), step, side="right"))]
            raise _fail(
                f"row {int(first_row[p]) + 2}: path {p[:80]!r} {problem}",
                f"separate channel names with {separator!r} (space, '>', space) "
                "and drop empty paths",
                f"{source}: ",
            )
    index: dict[str, int] = {}
    remap = np.array([index.setdefault(name, len(index)) for name in clean], dtype=np.int64)
    steps = remap[codes] if codes.size else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return PathCounts(
        channels=tuple(index),
        steps=np.asarray(steps, dtype=np.int64),
        offsets=np.asarray(offsets, dtype=np.int64),
        conversions=agg["c"].to_numpy(dtype=float),
        nulls=agg["n"].to_numpy(dtype=float),
        value=agg["v"].to_numpy(dtype=float),
    )


class _RowFinder:
    """0-based first row of a (stripped) path, computed only when an error needs it."""

    def __init__(self, raw: pd.Series) -> None:
        self.raw = raw

    def __getitem__(self, path: str) -> int:
        hits = np.flatnonzero(self.raw.astype(str).str.strip().to_numpy() == path)
        return int(hits[0]) if hits.size else -1


def _numeric(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise _fail(
            f"row {row + 2}: {column} = {str(frame[column].iloc[row])!r} is not a number >= 0",
            f"give {column} as a non-negative count",
            f"{source}: ",
        )
    return values


def read_paths(path: str | Path, **kwargs: object) -> PathCounts:
    """Read a path table from CSV or Parquet (see :func:`from_frame` for columns and checks)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"path table {p} does not exist; give a CSV or Parquet file")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        else:
            frame = pd.read_csv(p, dtype={"path": str}, keep_default_na=False, na_values=[])
            frame["path"] = frame["path"].replace("", np.nan) if "path" in frame else None
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"cannot read path table {p}: {e}; give a CSV or Parquet file") from e
    return from_frame(frame, source=str(p), **kwargs)  # type: ignore[arg-type]
