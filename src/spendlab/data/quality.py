"""Data quality: turn a reader's staged table into the canonical types, and find every row that
breaks the schema, with the row, column, value and a fix.

Checks are derived from :mod:`spendlab.data.schema` (required, ranges, allowed values, finite
numbers, values that do not convert, duplicate keys), expressed in Ibis so they run inside the
warehouse in one scan whatever the backend. The same rules, as a pandera schema, are available
from :func:`spendlab.data.schema.pandera_schema` for users who validate frames before loading.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir

from spendlab.core.money import CURRENCIES
from spendlab.data.schema import Column, TableSpec
from spendlab.data.sources.base import ROW, SOURCE_TEXT
from spendlab.errors import Issue, SourceFormatError

#: Rows shown per problem; the count says how many more share it.
EXAMPLES = 1


@dataclass(frozen=True)
class Check:
    """One row-level rule. ``flag`` names the boolean column that is true where a row breaks it."""

    flag: str
    column: str
    problem: str
    fix: str


@dataclass
class Conformed:
    """A staged table in canonical types: ``table`` holds the columns that vary by row plus one
    boolean flag column per check (and ``_row``); ``constants`` the columns that are the same in
    every row (literals, defaults), re-attached with :func:`with_constants` only when written."""

    table: ir.Table
    constants: dict[str, ir.Scalar]
    checks: list[Check]
    warnings: list[Issue]
    #: checks that fail on a constant column: every row breaks them (raised when rows exist)
    constant_issues: list[Issue]

    def full(self, table: ir.Table | None = None) -> ir.Table:
        return with_constants(self.table if table is None else table, self.constants)


def conform(
    typed: ir.Table,
    spec: TableSpec,
    *,
    file: str,
    constants: dict[str, ir.Scalar] | None = None,
) -> Conformed:
    """Defaults and check flags over a :func:`prepare`-d table (lazily: no scan yet).

    Checks on columns that are constant (a default, or a literal the reader set) are evaluated
    once here instead of on every row (``constant_issues``: every row breaks them).
    """
    constants = dict(constants or {})
    values: dict[str, ir.Value] = {}
    checks: list[Check] = []
    flags: dict[str, ir.BooleanValue] = {}
    constant_issues: list[Issue] = []

    def add(col: str, bad: ir.BooleanValue, problem: str, fix: str) -> None:
        if not bad.op().find(ops.Field):  # constant: decide now, not per row
            if _constant_true(bad):
                constant_issues.append(
                    Issue(
                        problem=f"{col} {problem} in every row",
                        fix=fix,
                        file=file,
                        column=col,
                        value=_constant_value(values.get(col)),
                    )
                )
            return
        name = f"_bad{len(checks)}"
        checks.append(Check(name, col, problem, fix))
        flags[name] = bad.fill_null(False)

    for c in spec.columns:
        if c.name in constants:
            value, bad_cast = _cast_constant(constants[c.name], c)
        elif c.name in typed.columns:
            value = typed[c.name]
            nn = typed[NN + c.name] if NN + c.name in typed.columns else None
            bad_cast = None if nn is None else nn & value.isnull()
        else:
            value, bad_cast = ibis.literal(None, type=c.ibis_type), None
        if bad_cast is not None:
            add(c.name, bad_cast, f"is not a valid {_type_word(c)}", _cast_fix(c))
        if c.default is not None and value.op().find(ops.Field):
            value = ibis.coalesce(value, ibis.literal(c.default, type=c.ibis_type))
        elif c.default is not None and _constant_value(value) is None:
            value = ibis.literal(c.default, type=c.ibis_type)
        values[c.name] = value
        _value_checks(c, value, add)

    varying = {n: v for n, v in values.items() if v.op().find(ops.Field)}
    fixed = {n: v for n, v in values.items() if n not in varying}
    table = typed.select(**varying, **flags, **({ROW: typed[ROW]} if ROW in typed.columns else {}))
    return Conformed(table, fixed, checks, [], constant_issues)


_SCALARS = ibis.duckdb.connect()


def _constant_true(expr: ir.BooleanValue) -> bool:
    return bool(_SCALARS.execute(expr))


def _constant_value(expr: ir.Value | None) -> str | None:
    if expr is None:
        return None
    v = _SCALARS.execute(expr)
    return None if v is None or v != v else str(v)


def split_constants(table: ir.Table) -> tuple[ir.Table, dict[str, ir.Scalar]]:
    """Peel columns that a reader set to a literal (platform, level, currency...) off the table,
    so that they are neither staged per row nor checked per row."""
    op = table.op()
    if not isinstance(op, ops.Project):
        return table, {}
    consts = {n: v for n, v in op.values.items() if isinstance(v, ops.Literal) and n != ROW}
    if not consts or len(consts) == len(op.values):
        return table, {}
    return table.drop(*consts), {n: ibis.literal(v.value, type=v.dtype) for n, v in consts.items()}


def with_constants(table: ir.Table, constants: dict[str, ir.Scalar]) -> ir.Table:
    return table.mutate(**constants) if constants else table


def _cast_constant(value: ir.Scalar, c: Column) -> tuple[ir.Value, ir.BooleanValue | None]:
    one = ibis.memtable({c.name: [_SCALARS.execute(value)]})
    v, nonnull = _cast(one, c)
    bad = nonnull & v.isnull() if nonnull is not None else ibis.literal(False)
    out = _SCALARS.execute(one.select(v=v, bad=bad))
    if bool(out["bad"].iloc[0]):
        return ibis.literal(None, type=c.ibis_type), ibis.literal(True)
    got = out["v"].iloc[0]
    if got is None or (isinstance(got, float) and got != got):
        return ibis.literal(None, type=c.ibis_type), None
    return ibis.literal(got, type=c.ibis_type), None


NN = "_nn_"  # prefix of the "source cell was not empty" bits stored by prepare()


def _cast(staged: ir.Table, c: Column) -> tuple[ir.Value, ir.BooleanValue | None]:
    """The column in its canonical type, and (when a conversion happens) whether the source cell
    was non-empty: a non-empty cell that converts to NULL did not convert."""
    target = c.ibis_type
    if c.name not in staged.columns:
        return ibis.literal(None, type=target), None
    raw = staged[c.name]
    if raw.type().is_null():
        return ibis.literal(None, type=target), None
    if raw.type() == target or (target.is_string() and raw.type().is_string()):
        return raw.cast(target), None
    if raw.type().is_string():
        # Cast directly (fast; DuckDB tolerates padding) and trim only the cells where that fails,
        # so a padded value converts on every backend and a blank cell counts as empty.
        kind = dt.float64 if target.is_integer() else target
        direct = raw.try_cast(kind)
        text = raw.strip().nullif("")
        value = ibis.cases((direct.notnull(), direct), else_=text.try_cast(kind))
        nonnull = ibis.cases((direct.notnull(), True), else_=text.notnull())
        if target.is_integer():
            value = ibis.cases((value == value.round(), value), else_=ibis.null()).cast(target)
        return value, nonnull
    if target.is_integer() and raw.type().is_floating():
        value = ibis.cases((raw == raw.round(), raw), else_=ibis.null()).cast(target)
        return value, raw.notnull()
    if target.is_string():
        return raw.cast(target), None
    return raw.try_cast(target), raw.notnull()


def prepare(
    staged: ir.Table, spec: TableSpec, *, file: str, source: str, constants: dict[str, ir.Scalar]
) -> tuple[ir.Table, list[Issue]]:
    """The projection the loader scans once: each varying canonical column in its type (no
    defaults yet), a ``_nn_<col>`` bit where a conversion happened, and ``_row``. Raises when a
    required column is missing; returns warnings for columns that will be ignored."""
    present = set(staged.columns) | set(constants)
    missing = [
        c.name for c in spec.columns if c.name not in present and c.required and c.default is None
    ]
    if missing:
        raise SourceFormatError(
            Issue(
                problem=f"source {source!r} produced no column for required {spec.name} "
                f"column(s) {', '.join(missing)}",
                fix="add the column to the export, or map it (generic source: --option map=...)",
                file=file,
                column=missing[0],
            )
        )
    warnings = []
    extra = sorted(c for c in present - set(spec.names) - {ROW} if not c.startswith(SOURCE_TEXT))
    if extra:
        warnings.append(
            Issue(
                problem=f"columns not in the {spec.name} table were ignored: {', '.join(extra)}",
                fix="map them to canonical columns if they matter (docs/data-model.md)",
                file=file,
                severity="warning",
            )
        )
    cols: dict[str, ir.Value] = {}
    for c in spec.columns:
        if c.name in constants or c.name not in staged.columns:
            continue
        if staged[c.name].type().is_null():
            continue
        value, nonnull = _cast(staged, c)
        src = SOURCE_TEXT + c.name
        if src in staged.columns:  # the reader converted it; its source text says if it was set
            text = staged[src].cast("string")
            nonnull = ibis.cases((value.notnull(), True), else_=text.strip().nullif("").notnull())
        cols[c.name] = value
        if nonnull is not None:
            cols[NN + c.name] = nonnull
    if ROW in staged.columns:
        cols[ROW] = staged[ROW]
    if not cols:  # nothing varies (e.g. an empty frame): keep a row count
        cols["_one"] = ibis.literal(1)
    return staged.select(**cols), warnings


def _value_checks(c: Column, v: ir.Value, add) -> None:
    if c.required or c.key:
        add(
            c.name,
            v.isnull(),
            "is empty but required",
            f"fill {c.name!r} in every row ({c.description.lower()})",
        )
    t = c.ibis_type
    if t.is_floating():
        add(
            c.name,
            v.isnan() | v.isinf(),
            "is not a finite number",
            "replace NaN/infinite values with a number or leave the cell empty",
        )
    if c.ge is not None and c.ge >= 0:
        add(
            c.name,
            v < c.ge,
            "is negative" if c.ge == 0 else f"is below {c.ge:g}",
            f"{c.name} cannot be below {c.ge:g}: check the sign, or export refunds/credits "
            "as a separate adjustment",
        )
    elif c.ge is not None:
        add(
            c.name,
            v < c.ge,
            f"is below {c.ge:g} (implausible)",
            "check the units and decimal separator",
        )
    if c.gt is not None:
        add(c.name, v <= c.gt, f"must be greater than {c.gt:g}", f"give a positive {c.name}")
    if c.le is not None:
        add(
            c.name,
            v > c.le,
            f"is larger than {c.le:g} (implausible)",
            "check the units (micros?) and the decimal separator (--option decimal=,)",
        )
    if c.isin is not None:
        if c.isin is CURRENCIES or c.name == "currency":
            problem, fix = "is not an ISO 4217 currency code", "use a code like USD, EUR, GBP"
        else:
            allowed = ", ".join(repr(x) for x in sorted(c.isin))
            problem, fix = "is not an allowed value", f"use one of {allowed}"
        add(c.name, v.notnull() & ~v.isin(sorted(c.isin)), problem, fix)


def _type_word(c: Column) -> str:
    t = c.ibis_type
    if t.is_integer():
        return "whole number"
    if t.is_floating():
        return "number"
    if t.is_date():
        return "date (YYYY-MM-DD)"
    if t.is_timestamp():
        return "timestamp (YYYY-MM-DD HH:MM:SS, UTC)"
    if t.is_json():
        return "JSON value"
    return str(t)


def _cast_fix(c: Column) -> str:
    t = c.ibis_type
    if t.is_numeric():
        return "write plain numbers; for a localized export pass --option decimal=, (or decimal=.)"
    if t.is_temporal():
        return "write ISO dates, or pass --option date_format=... (generic source)"
    return f"fix the {c.name} value"


@dataclass(frozen=True)
class Summary:
    rows: int
    counts: dict[str, int]
    maybe_duplicates: bool
    foreign_currency: int


def summarize(
    table: ir.Table,
    checks: list[Check],
    spec: TableSpec,
    constants: dict[str, ir.Scalar],
    currency: str | None,
) -> Summary:
    """Everything the loader needs to know about a staged table, in ONE aggregate scan: rows,
    rows breaking each check, whether keys may repeat (distinct 64-bit hashes of the varying key
    columns; equal counts prove uniqueness), and rows in a currency other than ``currency``."""
    aggs: dict[str, ir.Scalar] = {"_n": table.count()}
    aggs.update({c.flag: table[c.flag].cast("int64").sum() for c in checks})
    varying = [k for k in spec.key if k not in constants]
    if varying:
        aggs["_distinct"] = ibis.struct({k: table[k] for k in varying}).hash().nunique()
    foreign_col = None
    if currency is not None and "currency" in spec.names:
        cur = constants.get("currency", table["currency"] if "currency" in table.columns else None)
        if cur is not None and "currency" not in constants:
            foreign_col = "_foreign"
            aggs[foreign_col] = (cur != currency).cast("int64").sum()
        elif cur is not None and _SCALARS.execute(cur) != currency:
            foreign_col = "all"
    row = table.aggregate(**aggs).to_pyarrow().to_pylist()[0]
    n = int(row["_n"])
    counts = {c.flag: int(row[c.flag]) for c in checks if row[c.flag]}
    if varying:
        maybe_dups = int(row["_distinct"] or 0) != n
    else:
        maybe_dups = n > 1 and bool(spec.key)
    foreign = n if foreign_col == "all" else int(row.get("_foreign") or 0)
    return Summary(n, counts, maybe_dups, foreign)


def duplicate_keys(table: ir.Table, spec: TableSpec) -> int:
    """Rows whose key appears more than once (exact; run when :func:`summarize` suspects it)."""
    if not spec.key:
        return 0
    g = table.group_by(list(spec.key)).aggregate(n=table.count())
    res = g.filter(g.n > 1).aggregate(rows=g.n.sum()).to_pyarrow().to_pylist()[0]["rows"]
    return int(res or 0)


def any_flag(table: ir.Table, checks: list[Check]) -> ir.BooleanValue:
    out = ibis.literal(False)
    for c in checks:
        out = out | table[c.flag]
    return out


def describe(
    table: ir.Table,
    raw: ir.Table | None,
    spec: TableSpec,
    checks: list[Check],
    counts: dict[str, int],
    dup_rows: int,
    *,
    file: str,
) -> list[Issue]:
    """Issues for the failing checks, each with the first offending row (``_row`` when present).

    ``raw`` is the staged table before conforming, used to show the value as the file had it.
    """
    issues = []
    has_row = ROW in table.columns
    by_flag = {c.flag: c for c in checks}
    for flag, n in counts.items():
        check = by_flag[flag]
        sel = table.filter(table[flag])
        shown = [check.column] + ([ROW] if has_row else [])
        if has_row:
            sel = sel.order_by(ROW)
        first = sel.select(*shown).limit(EXAMPLES).to_pyarrow().to_pylist()
        row = first[0] if first else {}
        value = row.get(check.column)
        if raw is not None and has_row and check.column in raw.columns and row:
            r = raw.filter(raw[ROW] == row[ROW]).select(v=raw[check.column].cast("string"))
            got = r.limit(1).to_pyarrow().to_pylist()
            value = got[0]["v"] if got else value
        issues.append(
            Issue(
                problem=f"{check.column} {check.problem}",
                fix=check.fix,
                file=file,
                row=row.get(ROW),
                column=check.column,
                value=None if value is None else str(value),
                count=n,
            )
        )
    if dup_rows:
        keys = list(spec.key)
        g = table.group_by(keys).aggregate(
            n=table.count(),
            **({"first": table[ROW].min(), "second": table[ROW].max()} if has_row else {}),
        )
        dup = g.filter(g.n > 1)
        if has_row:
            dup = dup.order_by("first")
        ex = dup.limit(1).to_pyarrow().to_pylist()[0]
        key_text = ", ".join(f"{k}={ex[k]}" for k in keys if ex[k] not in ("", None))
        rows = f" (rows {ex['first']} and {ex['second']})" if has_row else ""
        issues.append(
            Issue(
                problem=f"duplicate key: {key_text} appears {ex['n']} times{rows}",
                fix=f"each ({', '.join(keys)}) may appear once per file; remove the duplicate rows "
                "or add the segment that tells them apart",
                file=file,
                row=ex.get("first"),
                column=keys[0],
                count=dup_rows,
            )
        )
    issues.sort(key=lambda i: (i.row is None, i.row or 0))
    return issues
