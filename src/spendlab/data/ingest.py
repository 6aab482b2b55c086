"""Loading data into a workspace: one file (through its reader) or in-memory frames.

A load is all-or-nothing. The reader stages the file; every canonical table it fills is cast and
checked in the warehouse (:mod:`spendlab.data.quality`); amounts are converted to the workspace
currency; then every table is upserted by key in ONE transaction and the load is logged. A bad
file changes nothing: with ``on_error="abort"`` (default) any bad row raises
:class:`~spendlab.errors.ValidationError` naming file, row, column, value and fix; with
``on_error="skip"`` bad rows are left out, counted as ``rejected`` and described in the report.

Loads are idempotent: the same file twice adds nothing (rows identical to stored ones are
``unchanged``); a corrected file replaces the rows whose keys it covers (``replaced``).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

from spendlab.config import get_settings
from spendlab.core.faults import checkpoint, no_space
from spendlab.data import quality
from spendlab.data.schema import TableSpec, table_spec
from spendlab.data.sources import ReadContext, get_source
from spendlab.data.sources.base import ROW
from spendlab.data.warehouse import Warehouse
from spendlab.errors import (
    ConfigError,
    Issue,
    SourceFormatError,
    SpendLabError,
    ValidationError,
    WorkspaceError,
)

Progress = Callable[[str], None]
OnError = Literal["abort", "skip"]


@dataclass
class TableCounts:
    read: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    rejected: int = 0


@dataclass
class LoadReport:
    """What a load did. Totals sum over the tables the source filled."""

    load_id: str
    source: str
    file: str | None
    tables: dict[str, TableCounts] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    def _total(self, attr: str) -> int:
        return sum(getattr(c, attr) for c in self.tables.values())

    @property
    def read(self) -> int:
        return self._total("read")

    @property
    def added(self) -> int:
        return self._total("added")

    @property
    def replaced(self) -> int:
        return self._total("replaced")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def rejected(self) -> int:
        return self._total("rejected")

    def to_dict(self) -> dict[str, Any]:
        return {
            "load_id": self.load_id,
            "source": self.source,
            "file": self.file,
            "dry_run": self.dry_run,
            "rows": {
                k: self._total(k) for k in ("read", "added", "replaced", "unchanged", "rejected")
            },
            "tables": {k: asdict(v) for k, v in self.tables.items()},
            "issues": [i.to_dict() for i in self.issues],
            "seconds": round(self.seconds, 3),
        }


def ingest_file(
    wh: Warehouse,
    path: str | Path,
    source: str,
    options: Mapping[str, Any] | None = None,
    *,
    on_error: OnError = "abort",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Load one file through the named reader (see :func:`spendlab.data.sources.source_names`)."""
    t0 = time.perf_counter()
    path = Path(path)
    reader = get_source(source)
    opts = {str(k): v for k, v in (options or {}).items()}
    settings = get_settings()

    def context(row_numbers: bool) -> ReadContext:
        return ReadContext(
            con=wh.con,
            path=path,
            options=dict(opts),
            row_numbers=row_numbers,
            max_in_memory_bytes=settings.max_in_memory_bytes,
        )

    def translate(error: Exception) -> Exception | None:
        """A reader that knows its format maps backend scan errors to the right line."""
        parse_error = getattr(reader, "parse_error", None)
        return parse_error(context(False), error) if parse_error else None

    def read(row_numbers: bool) -> dict[str, ir.Table]:
        ctx = context(row_numbers)
        return _guard(lambda: reader.read(ctx), path.name, translate)

    _say(progress, f"reading {path.name} ({source})")
    staged = read(False)
    unknown = set(staged) - set(reader.tables)
    if unknown:  # a reader bug, not a user error
        raise RuntimeError(f"reader {source!r} produced undeclared tables {sorted(unknown)}")
    report = LoadReport(load_id=_load_id(), source=source, file=path.name, dry_run=dry_run)
    record = {
        "source": source,
        "file": str(path.resolve()),
        "file_sha256": _sha256(path),
        "options": json.dumps(opts, default=str, sort_keys=True),
    }
    _load(
        wh,
        staged,
        lambda: read(True),
        report,
        record,
        translate=translate,
        on_error=on_error,
        dry_run=dry_run,
        progress=progress,
    )
    report.seconds = time.perf_counter() - t0
    return report


def ingest_frames(
    wh: Warehouse,
    frames: Mapping[str, Any],
    *,
    label: str = "python",
    on_error: OnError = "abort",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Load in-memory frames (pandas, pyarrow or Ibis tables) named by canonical table, with the
    same validation, conversion and idempotent upsert as a file. Row numbers in errors are the
    frame's 0-based positions + 1."""
    t0 = time.perf_counter()
    staged: dict[str, ir.Table] = {}
    for name, frame in frames.items():
        table_spec(name)
        t = frame if isinstance(frame, ir.Table) else ibis.memtable(frame)
        if ROW not in t.columns:
            t = t.mutate(**{ROW: ibis.row_number() + 1})
        staged[name] = t
    report = LoadReport(load_id=_load_id(), source=label, file=None, dry_run=dry_run)
    record = {"source": label, "file": None, "file_sha256": None, "options": "{}"}
    _load(wh, staged, None, report, record, on_error=on_error, dry_run=dry_run, progress=progress)
    report.seconds = time.perf_counter() - t0
    return report


# ----------------------------------------------------------------------------------------------
def _load(
    wh: Warehouse,
    staged: dict[str, ir.Table],
    restage: Callable[[], dict[str, ir.Table]] | None,
    report: LoadReport,
    record: dict[str, Any],
    *,
    on_error: OnError,
    dry_run: bool,
    progress: Progress | None,
    translate: Callable[[Exception], Exception | None] | None = None,
) -> None:
    """Stage -> check -> convert -> one transaction. The file is scanned once, into an in-memory
    temporary table; checks are aggregates over it; the persistent table is written once."""
    if on_error not in ("abort", "skip"):
        raise ConfigError(f"on_error must be 'abort' or 'skip', not {on_error!r}")
    file = report.file or report.source
    temps: list[str] = []
    ready: dict[str, tuple[ir.Table, int]] = {}
    failed = False
    try:
        for name, table in staged.items():
            spec = table_spec(name)
            _say(progress, f"reading and validating {name}")
            varying, constants = quality.split_constants(table)
            prepared, warnings = quality.prepare(
                varying, spec, file=file, source=report.source, constants=constants
            )
            report.issues.extend(warnings)
            typed_name = _guard(lambda p=prepared: wh.stage(p), file, translate)  # the one scan
            temps.append(typed_name)
            conformed = quality.conform(
                wh.con.table(typed_name), spec, file=file, constants=constants
            )
            typed = conformed.table
            stats = _guard(
                lambda t=typed, c=conformed, spec=spec: quality.summarize(
                    t, c.checks, spec, c.constants, wh.currency if spec.has_currency else None
                ),
                file,
            )
            tc = report.tables[name] = TableCounts(read=stats.rows)
            if stats.rows == 0:
                report.issues.append(
                    Issue(
                        problem=f"no {name} rows in the file",
                        file=file,
                        severity="warning",
                        fix="check the export's date range and filters",
                    )
                )
                continue
            if conformed.constant_issues:
                raise ValidationError(conformed.constant_issues, rejected_rows=stats.rows)
            full = conformed.full(typed)
            dups = quality.duplicate_keys(full, spec) if stats.maybe_duplicates else 0
            good = full
            if stats.counts or dups:
                issues = _describe(
                    wh,
                    name,
                    spec,
                    full,
                    table,
                    conformed.checks,
                    stats.counts,
                    dups,
                    restage,
                    file,
                    temps,
                )
                if on_error == "abort":
                    bad = int(
                        typed.filter(quality.any_flag(typed, conformed.checks)).count().execute()
                    )
                    raise ValidationError(issues, rejected_rows=max(bad, dups))
                report.issues.extend(issues)
                good_name = wh.stage(_drop_bad(typed, spec, conformed, dups))
                temps.append(good_name)
                good = conformed.full(wh.con.table(good_name))
                tc.rejected = stats.rows - int(good.count().execute())
            final = _convert_currency(wh, spec, good, table, file, stats.foreign_currency)
            ready[name] = (final.select(*spec.names), stats.rows - tc.rejected)
        _say(progress, "writing")
        with wh.transaction():
            for name, (expr, n) in ready.items():
                c = wh.upsert(name, expr, report.load_id, rows=n)
                tc = report.tables[name]
                tc.added, tc.replaced, tc.unchanged = c.added, c.replaced, c.unchanged
            wh.log_load(
                {
                    **record,
                    "load_id": report.load_id,
                    "loaded_at": _now(),
                    "rows_read": report.read,
                    "added": report.added,
                    "replaced": report.replaced,
                    "unchanged": report.unchanged,
                    "rejected": report.rejected,
                    "tables": json.dumps({k: asdict(v) for k, v in report.tables.items()}),
                }
            )
            checkpoint("ingest.before_commit")  # test hook (core/faults.py)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except Exception as e:
        failed = True
        if no_space(e):  # DuckDB rolled back (or refused the commit): nothing was written
            raise WorkspaceError(
                f"the disk holding workspace {wh.root} is full (no space left on device): "
                f"nothing from {file} was loaded and the rows loaded before are intact; free "
                "space on that disk (or move the workspace to a larger one) and load again"
            ) from e
        raise
    finally:
        for tmp in temps:
            try:
                wh.drop_temp(tmp)
            except Exception:
                if not failed:  # after a failure the connection may be gone: keep the cause
                    raise


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _describe(
    wh: Warehouse,
    name: str,
    spec: TableSpec,
    t: ir.Table,
    staged: ir.Table,
    checks: list[quality.Check],
    counts: dict[str, int],
    dups: int,
    restage: Callable[[], dict[str, ir.Table]] | None,
    file: str,
    temps: list[str],
) -> list[Issue]:
    """Issues with row numbers: re-read the file with row numbers when the first pass had none
    (numbering rows costs a second pass, so it is paid only when there is something to report).
    Re-conforming the same spec yields the same checks, so ``counts`` keys still apply."""
    raw = staged if ROW in staged.columns else None
    if ROW not in t.columns and restage is not None:  # second pass, with row numbers
        raw = restage()[name]
        varying, constants = quality.split_constants(raw)
        prepared, _ = quality.prepare(varying, spec, file=file, source="", constants=constants)
        tmp = _guard(lambda: wh.stage(prepared), file)
        temps.append(tmp)
        conformed = quality.conform(wh.con.table(tmp), spec, file=file, constants=constants)
        t = conformed.full()
    return quality.describe(t, raw, spec, checks, counts, dups, file=file)


def _drop_bad(
    typed: ir.Table, spec: TableSpec, conformed: quality.Conformed, dups: int
) -> ir.Table:
    """Rows that break no check and whose key is unique in the file (skip mode)."""
    good = typed.filter(~quality.any_flag(typed, conformed.checks))
    if dups and spec.key:
        full = conformed.full(good)
        keys = list(spec.key)
        g = full.group_by(keys).aggregate(_n=full.count())
        single = g.filter(g._n == 1).drop("_n")
        good = full.semi_join(single, keys).select(*typed.columns)
    return good


def _convert_currency(
    wh: Warehouse, spec: TableSpec, t: ir.Table, raw: ir.Table, file: str, foreign: int
) -> ir.Table:
    """Fill ``fx_rate`` (1 for the workspace currency, else from ``fx_rates``) and convert every
    money column to the workspace currency. A rate given by the source itself is kept."""
    if not spec.has_currency:
        return t
    base = wh.currency
    if "fx_rate" in raw.columns:
        rate = t.fx_rate
    else:
        if not foreign:
            return t
        day = _day_of(spec, t)
        rates = wh.table("fx_rates")
        if day is None:  # undated rows (entities): the latest known rate
            latest = rates.group_by("currency").aggregate(_d=rates.date.max())
            rates = rates.semi_join(
                latest, [rates.currency == latest.currency, rates.date == latest._d]
            )
            r = rates.select(_cur=rates.currency, _rate=rates.rate)
            j = t.left_join(r, t.currency == r._cur)
        else:
            r = rates.select(_cur=rates.currency, _day=rates.date, _rate=rates.rate)
            j = t.left_join(r, [t.currency == r._cur, day == r._day])
        j = j.mutate(_rate=ibis.cases((j.currency == base, 1.0), else_=j._rate))
        missing = j.filter(j._rate.isnull())
        n_missing = int(missing.count().execute())
        if n_missing:
            ex = missing.limit(1).to_pyarrow().to_pylist()[0]
            when = f" on {ex[_day_name(spec)]}" if _day_name(spec) else ""
            cur = ex["currency"]
            raise ValidationError(
                [
                    Issue(
                        problem=f"rows in {cur} but the workspace reports in {base} and has no "
                        f"{cur}->{base} rate{when}",
                        fix="load rates first: spendlab ingest RATES.csv --source generic --option "
                        f"table=fx_rates (columns date, currency, rate = {base} per unit), or "
                        "export the report in the workspace currency",
                        file=file,
                        row=ex.get(ROW),
                        column="currency",
                        value=cur,
                        count=n_missing,
                    )
                ],
                rejected_rows=n_missing,
            )
        t, rate = j, j._rate
    return t.mutate(fx_rate=rate, **{m: t[m] * rate for m in spec.money_columns})


def _day_name(spec: TableSpec) -> str | None:
    for c in ("date", "timestamp", "updated_at"):
        if c in spec.names:
            return c
    return None


def _day_of(spec: TableSpec, t: ir.Table) -> ir.Value | None:
    name = _day_name(spec)
    return None if name is None else t[name].cast("date")


_LINE = re.compile(r"(?:line|Line)[:\s]+(\d+)")


def _guard(
    fn: Callable[[], Any],
    file: str,
    translate: Callable[[Exception], Exception | None] | None = None,
) -> Any:
    """Run a reader or a scan; turn backend parse errors into a located SourceFormatError
    (the reader's own ``parse_error`` first, when it has one)."""
    try:
        return fn()
    except SpendLabError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # backend errors (DuckDB CSV/JSON parse) carry the line, if any
        better = translate(e) if translate is not None else None
        if better is not None:
            raise better from e
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        m = _LINE.search(str(e))
        raise SourceFormatError(
            Issue(
                problem=f"cannot be parsed: {msg[:300]}",
                fix="check the file is a complete, unmodified export in the format of --source "
                "(quotes balanced, same number of columns on every line)",
                file=file,
                row=int(m.group(1)) if m else None,
            )
        ) from e


def _say(progress: Progress | None, msg: str) -> None:
    if progress is not None:
        progress(msg)


def _load_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
