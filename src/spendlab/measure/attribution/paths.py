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
import pyarrow as pa
import pyarrow.compute as pc

from spendlab.errors import DataError

SEPARATOR = " > "
#: Longest accepted path (touches); longer ones are almost surely a bot or a parsing error.
MAX_PATH_LENGTH = 1000
#: Counts below this are 0: a subnormal count carrying a value overflows value per conversion.
MIN_COUNT = 1e-9
_ARROWS = ("->", "→", ">")  # never inside a name when the separator is " > "
_OTHER_SEPARATORS = ("|", ",", ";", "\t")
# the parse's Arrow buffers go to malloc, which hands large blocks back at once; Arrow's default
# pool (mimalloc/jemalloc) keeps freed pages resident, which shows as peak memory later in a fit
_POOL = pa.system_memory_pool()
#: Steps (or paths) per block when parsing and fitting: bounds the temporary memory.
BLOCK = 1 << 15


@dataclass(frozen=True)
class PathCounts:
    """Unique paths with conversions, nulls and value.

    ``channels``: names, indexed by the ints in ``steps`` (int32). ``steps``/``offsets`` (int64):
    flat paths.
    ``conversions``, ``nulls``, ``value``: float arrays, one entry per path.
    """

    channels: tuple[str, ...]
    steps: np.ndarray
    offsets: np.ndarray
    conversions: np.ndarray
    nulls: np.ndarray
    value: np.ndarray
    #: Days from every touch to the journey's end (conversion, or last touch of a null journey),
    #: aligned with ``steps``; only for journeys built with touch times (``build_journeys``).
    ages: np.ndarray | None = None

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
        return PathCounts(
            self.channels, self.steps, self.offsets, conversions, nulls, value, self.ages
        )

    def merge(self, other: PathCounts) -> PathCounts:
        """Add two path counts (same path -> counts added; touch times are dropped)."""
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
    value without conversions, or a path longer than ``max_length`` touches. Counts below
    ``MIN_COUNT`` (1e-9) are treated as 0, so a path whose conversions are all below it and that
    carries value is rejected: a subnormal count with a whole order's value would overflow the
    value per conversion.

    Parsing runs once per *distinct* path string, in Arrow and in blocks of ``BLOCK`` steps: a
    split into a flat token array, a dictionary encoding of the tokens (the channel table) and
    checks on the distinct names only; no Python object per touch.
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
    nulls = _numeric(frame, "nulls", source) if "nulls" in frame.columns else None
    value = _numeric(frame, "value", source) if "value" in frame.columns else None
    if n == 0:
        raise _fail(f"{source} has no rows", "give at least one path")
    raw = frame["path"]
    isna = raw.isna().to_numpy()
    if isna.any():
        row = int(np.flatnonzero(isna)[0])
        raise _fail(
            f"row {row + 2}: path is empty", "drop the row or give its touches", f"{source}: "
        )
    del isna
    # aggregate duplicate rows first so parsing runs once per distinct path string
    codes, uniq = pd.factorize(raw, sort=False)
    k = len(uniq)
    if k == n:  # already one row per path (an aggregated table): codes are 0..n-1
        c = _own(conv)
        nl = np.zeros(k) if nulls is None else _own(nulls)
        v = np.zeros(k) if value is None else _own(value)
    else:
        c = np.bincount(codes, weights=conv, minlength=k)
        nl = np.zeros(k) if nulls is None else np.bincount(codes, weights=nulls, minlength=k)
        v = np.zeros(k) if value is None else np.bincount(codes, weights=value, minlength=k)
    del conv, nulls, value
    return _parse(
        np.asarray(uniq, dtype=object),
        c,
        nl,
        v,
        _FirstRow(codes),
        separator=separator,
        max_length=max_length,
        source=source,
    )


def blocks(offsets: np.ndarray, size: int | None = None) -> list[tuple[int, int]]:
    """Path ranges ``[a, b)`` of about ``size`` (default ``BLOCK``) steps each, at least one path
    per range: lets parsing and fitting work block by block with bounded temporary memory."""
    size = size or BLOCK
    n = offsets.size - 1
    cuts = np.searchsorted(offsets, np.arange(size, int(offsets[-1]), size), side="left")
    bounds = np.unique(np.concatenate([[0], np.clip(cuts, 0, n), [n]]).astype(np.int64))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _arrow_strings(values: np.ndarray) -> pa.Array:
    """Path strings as one Arrow string array (non-strings, e.g. numbers, as text)."""
    try:
        out = pa.array(values, type=pa.large_string(), from_pandas=True, memory_pool=_POOL)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        out = pa.array([str(x) for x in values], type=pa.large_string(), memory_pool=_POOL)
    if out.null_count:
        out = pc.fill_null(out, "", memory_pool=_POOL)
    return out


def _own(a: np.ndarray) -> np.ndarray:
    """``a``, copied only when it is a view (e.g. of the caller's float column)."""
    return a if a.flags.owndata else a.copy()


def _zero_tiny(counts: np.ndarray) -> np.ndarray:
    """Counts in (0, MIN_COUNT) set to 0 (a copy only when there are any)."""
    tiny = (counts > 0) & (counts < MIN_COUNT)
    return np.where(tiny, 0.0, counts) if tiny.any() else counts


class _FirstRow:
    """0-based first row of distinct path ``i`` (computed only when an error needs it)."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = codes

    def __getitem__(self, i: int) -> int:
        return int(np.argmax(self.codes == i))


def _parse(
    uniq: np.ndarray,
    conv: np.ndarray,
    nulls: np.ndarray,
    value: np.ndarray,
    rows: _FirstRow,
    *,
    separator: str,
    max_length: int,
    source: str,
) -> PathCounts:
    """Distinct path strings -> flat channel ids, in blocks (two passes: lengths, then tokens)."""
    where = f"{source}: "
    conv, nulls = _zero_tiny(conv), _zero_tiny(nulls)
    bad_value = (value > 0) & (conv <= 0)
    if bad_value.any():
        i = int(np.flatnonzero(bad_value)[0])
        raise _fail(
            f"row {rows[i] + 2}: path {str(uniq[i])[:80]!r} has value but no conversions "
            f"(conversions below {MIN_COUNT:g} count as 0)",
            "value is the total conversion value of the path's conversions; fix the counts",
            where,
        )
    k = uniq.size
    lengths = np.empty(k, dtype=np.int64)
    for a in range(0, k, BLOCK):
        text = _arrow_strings(uniq[a : a + BLOCK])
        lengths[a : a + BLOCK] = pc.count_substring(text, separator, memory_pool=_POOL).to_numpy()
    lengths += 1
    if not (lengths > 1).any():
        strings = [str(p) for p in uniq]
        for other in _OTHER_SEPARATORS:
            hits = [i for i, p in enumerate(strings) if other in p]
            if len(hits) > k / 2:
                raise _fail(
                    f"no path uses the separator {separator!r} but {len(hits):,} paths contain "
                    f"{other!r} (e.g. row {rows[hits[0]] + 2}: {strings[hits[0]][:80]!r})",
                    f"separate channel names with {separator!r} or pass separator={other!r}",
                    where,
                )
        del strings
    too_long = np.flatnonzero(lengths > max_length)
    if too_long.size:
        i = int(too_long[0])
        raise _fail(
            f"row {rows[i] + 2}: path has {int(lengths[i]):,} touches (limit {max_length:,})",
            "truncate paths with last_n (JourneyConfig) or raise max_length",
            where,
        )
    offsets = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    del lengths
    steps = np.empty(int(offsets[-1]), dtype=np.int32)
    arrows = [x for x in (*_ARROWS, separator.strip()) if x]
    token_id: dict[str, int] = {}  # raw token -> channel id
    index: dict[str, int] = {}  # clean (stripped) name -> channel id
    for a, b in blocks(offsets):
        split = pc.split_pattern(_arrow_strings(uniq[a:b]), pattern=separator, memory_pool=_POOL)
        tokens = pc.dictionary_encode(split.values, memory_pool=_POOL)
        del split
        local = tokens.dictionary.to_pylist()
        codes = tokens.indices.to_numpy()
        del tokens
        for j, name in enumerate(local):
            if name in token_id:
                continue
            clean = name.strip()
            problem = None
            if not clean:
                problem = "is empty or has an empty step"
            else:
                other = next((x for x in arrows if x in clean), None)
                if other is not None:
                    problem = f"uses separator {other!r}"
            if problem:
                step = int(offsets[a]) + int(np.argmax(codes == j))
                i = int(np.searchsorted(offsets, step, side="right")) - 1
                raise _fail(
                    f"row {rows[i] + 2}: path {str(uniq[i])[:80]!r} {problem}",
                    f"separate channel names with {separator!r} (space, '>', space) "
                    "and drop empty paths",
                    where,
                )
            token_id[name] = index.setdefault(clean, len(index))
        lut = np.array([token_id[name] for name in local], dtype=np.int32)
        steps[offsets[a] : offsets[b]] = lut[codes]
        del codes
    if len(index) < len(token_id):
        # names equal up to surrounding spaces: distinct strings may now be the same path
        return _dedupe(tuple(index), steps, offsets, conv, nulls, value)
    return PathCounts(tuple(index), steps, offsets, conv, nulls, value)


def _dedupe(
    channels: tuple[str, ...],
    steps: np.ndarray,
    offsets: np.ndarray,
    conv: np.ndarray,
    nulls: np.ndarray,
    value: np.ndarray,
) -> PathCounts:
    """Merge paths with the same step sequence (rare: only after trimming spaces off names)."""
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(steps))
    keys = pc.binary_join(
        pc.cast(lists, pa.large_list(pa.large_string())), pa.scalar(" ", pa.large_string())
    )
    codes, first = pd.factorize(keys.to_numpy(zero_copy_only=False), sort=False)
    k = first.size
    starts = np.full(k, -1, dtype=np.int64)
    starts[codes[::-1]] = np.arange(codes.size)[::-1]  # first path of each group
    lengths = np.diff(offsets)[starts]
    new_offsets = np.concatenate([[0], np.cumsum(lengths)])
    take = np.repeat(offsets[starts] - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return PathCounts(
        channels,
        steps[take],
        new_offsets.astype(np.int64),
        np.bincount(codes, weights=conv, minlength=k),
        np.bincount(codes, weights=nulls, minlength=k),
        np.bincount(codes, weights=value, minlength=k),
    )


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
