"""Any table from a CSV, TSV, Parquet or XLSX file, with a column mapping.

This is how outcomes, controls, exchange rates, entities, customers, creatives and platforms
without a dedicated reader come in. CSV and Parquet stream through the warehouse backend; XLSX is
parsed in memory (size-limited).

Options (``--option KEY=VALUE``):

- ``table`` (required): the canonical table to fill (``outcomes``, ``controls``, ``fx_rates``...).
- ``map``: canonical=source pairs, ``map=date=Week,value=Revenue``, or a JSON object. Without a
  mapping, columns match canonical names ignoring case, spaces, ``_`` and ``-``.
- ``const.<column>=value``: set a canonical column to a constant (``const.kpi=revenue``,
  ``const.platform=tiktok``); ``currency``, ``platform`` and ``level`` are shortcuts for it.
- ``wide``: for outcomes/controls with one column per KPI/control: ``wide=sales,units`` or
  ``wide=*`` (every column but date and geo) becomes rows of name/value (kpi/value).
- ``delimiter`` (CSV; sniffed by default), ``decimal`` (``,`` for localized numbers),
  ``date_format`` (strftime format of date/timestamp columns when not ISO), ``sheet`` (XLSX).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from spendlab.data.schema import TABLES, TableSpec
from spendlab.data.sources.base import (
    ROW,
    ReadContext,
    Source,
    add_row_numbers,
    clean_number,
    decode_text,
)

WIDE_NAMES = {"outcomes": "kpi", "controls": "name"}


class Generic(Source):
    name: ClassVar[str] = "generic"
    description: ClassVar[str] = "any canonical table from CSV/TSV/Parquet/XLSX with a mapping"
    tables: ClassVar[tuple[str, ...]] = tuple(TABLES)
    suffixes: ClassVar[tuple[str, ...]] = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx")

    def read(self, ctx: ReadContext) -> dict[str, ir.Table]:
        head = self.check_file(ctx)
        spec = _table(ctx)
        suffix = ctx.path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            t, first = ctx.con.read_parquet(str(ctx.path)), 1
        elif suffix == ".xlsx":
            t, first = _read_xlsx(ctx), 2
        else:
            header, delim = _sniff(ctx, head)
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise ctx.fail(
                    f"has duplicate column names: {', '.join(dupes)}",
                    "rename the columns so each name appears once",
                    row=1,
                )
            t = ctx.con.read_csv(
                str(ctx.path), all_varchar=True, header=True, delim=delim, quote='"', escape='"'
            )
            first = 2
        if ctx.row_numbers and ROW not in t.columns:
            t = add_row_numbers(t, first)
        wide = ctx.options.get("wide")
        if wide:
            t = _unpivot(ctx, t, spec, str(wide), _parse_map(ctx, spec))
        return {spec.name: _map(ctx, t, spec)}

    def write(self, frames: dict[str, Any], path: Path, **options: Any) -> Path:
        """Canonical columns as CSV; ``wide=True`` writes outcomes/controls one column each."""
        ((name, df),) = frames.items()
        if options.get("wide") and name in WIDE_NAMES:
            key = WIDE_NAMES[name]
            idx = [c for c in ("date", "geo") if c in df.columns]
            df = df.pivot_table(index=idx, columns=key, values="value").reset_index()
            df.columns.name = None
        df.to_csv(path, index=False)
        return Path(path)


def _table(ctx: ReadContext) -> TableSpec:
    name = ctx.options.get("table")
    if not name:
        raise ctx.fail(
            "needs --option table=NAME to know which table it fills",
            f"pass one of: {', '.join(TABLES)}",
        )
    if name not in TABLES:
        close = difflib.get_close_matches(str(name), TABLES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ctx.fail(
            f"--option table={name} is not a canonical table",
            f"{hint}valid tables: {', '.join(TABLES)}",
        )
    return TABLES[name]


def _sniff(ctx: ReadContext, head: bytes) -> tuple[list[str], str]:
    text = decode_text(head)
    first = text.splitlines()[0] if text.splitlines() else ""
    delim = ctx.options.get("delimiter")
    if not delim:
        if ctx.path.suffix.lower() == ".tsv":
            delim = "\t"
        else:
            counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
            delim = max(counts, key=counts.get) if any(counts.values()) else ","
    delim = "\t" if delim in ("\\t", "tab") else delim
    header = next(csv.reader(io.StringIO(first), delimiter=delim), [])
    if not header or all(not h.strip() for h in header):
        raise ctx.fail("has no header row", "put the column names on the first line", row=1)
    return [h.strip() for h in header], delim


def _read_xlsx(ctx: ReadContext) -> ir.Table:
    import pandas as pd

    if ctx.path.stat().st_size > ctx.max_in_memory_bytes:
        raise ctx.fail(
            f"XLSX file is over the {ctx.max_in_memory_bytes / 1024**2:,.0f} MB in-memory limit",
            "save it as CSV (streams at any size) or raise SPENDLAB_MAX_IN_MEMORY_BYTES",
        )
    sheet: Any = ctx.options.get("sheet", 0)
    if isinstance(sheet, str) and sheet.isascii() and sheet.isdigit():
        sheet = int(sheet)
    try:
        df = pd.read_excel(ctx.path, sheet_name=sheet, dtype=str, engine="calamine")
    except Exception as e:  # corrupt workbook, unknown sheet
        raise ctx.fail(
            f"cannot be read as a workbook: {e}",
            "check the file opens in a spreadsheet, and --option sheet=",
        ) from e
    df.columns = [str(c).strip() for c in df.columns]
    df[ROW] = range(2, len(df) + 2)
    return ibis.memtable(df.astype(object).where(df.notna(), None))


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.lower())


def _parse_map(ctx: ReadContext, spec: TableSpec) -> dict[str, str]:
    raw = ctx.options.get("map")
    if not raw:
        return {}
    if isinstance(raw, dict):
        pairs = raw
    elif str(raw).lstrip().startswith("{"):
        try:
            pairs = json.loads(str(raw))
        except json.JSONDecodeError as e:
            raise ctx.fail(
                f"--option map is not valid JSON ({e})",
                'write map={"date": "Week", "value": "Revenue"}',
            ) from e
    else:
        pairs = {}
        for item in str(raw).split(","):
            canon, sep, src = item.partition("=")
            if not sep:
                raise ctx.fail(
                    f"--option map item {item!r} is not canonical=source",
                    "write map=date=Week,value=Revenue",
                )
            pairs[canon.strip()] = src.strip()
    for canon in pairs:
        if canon not in spec.names:
            close = difflib.get_close_matches(canon, spec.names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ctx.fail(
                f"--option map names {canon!r}, not a column of {spec.name}",
                f"{hint}columns: {', '.join(spec.names)}",
            )
    return {str(k): str(v) for k, v in pairs.items()}


def _constants(ctx: ReadContext, spec: TableSpec) -> dict[str, str]:
    consts = {
        k.removeprefix("const."): str(v) for k, v in ctx.options.items() if k.startswith("const.")
    }
    for short in ("currency", "platform", "level"):
        if short in ctx.options and short in spec.names:
            consts.setdefault(short, str(ctx.options[short]))
    for col in consts:
        if col not in spec.names:
            raise ctx.fail(
                f"--option const.{col} is not a column of {spec.name}",
                f"columns: {', '.join(spec.names)}",
            )
    return consts


def _unpivot(
    ctx: ReadContext, t: ir.Table, spec: TableSpec, wide: str, mapping: dict[str, str]
) -> ir.Table:
    if spec.name not in WIDE_NAMES:
        raise ctx.fail(
            f"--option wide works for outcomes and controls, not {spec.name}",
            "drop --option wide, or load into outcomes/controls",
        )
    ids = {mapping.get("date"), mapping.get("geo")}
    keep = {c for c in t.columns if _norm(c) in ("date", "geo") or c == ROW or c in ids}
    cols = (
        [c for c in t.columns if c not in keep]
        if wide.strip() == "*"
        else [c.strip() for c in wide.split(",")]
    )
    missing = [c for c in cols if c not in t.columns]
    if missing or not cols:
        raise ctx.fail(
            f"--option wide names columns not in the file: {', '.join(missing)}",
            f"columns found: {', '.join(c for c in t.columns if c != ROW)}",
        )
    # values_transform keeps NULL cells as rows, so an empty cell is reported, never dropped
    return t.pivot_longer(cols, names_to=WIDE_NAMES[spec.name], values_to="value")


def _map(ctx: ReadContext, t: ir.Table, spec: TableSpec) -> ir.Table:
    mapping = _parse_map(ctx, spec)
    consts = _constants(ctx, spec)
    found = {c for c in t.columns if c != ROW}
    by_norm = {_norm(c): c for c in found}
    out: dict[str, ir.Value] = {}
    for c in spec.columns:
        if c.name in consts:
            out[c.name] = ibis.literal(consts[c.name])
        elif c.name in mapping:
            src = mapping[c.name]
            if src not in found:
                raise ctx.fail(
                    f"--option map names source column {src!r}, not in the file",
                    f"columns found: {', '.join(sorted(found))}",
                    column=src,
                )
            out[c.name] = t[src]
        elif _norm(c.name) in by_norm:
            out[c.name] = t[by_norm[_norm(c.name)]]
    numeric = {c.name for c in spec.columns if c.ibis_type.is_numeric()}
    decimal = ctx.options.get("decimal")
    fmt = ctx.options.get("date_format")
    for name in list(out):
        col = spec.column(name)
        v = out[name]
        if decimal in (",", ".") and name in numeric and v.type().is_string():
            out[name] = clean_number(v, decimal=str(decimal))
        elif fmt and col.ibis_type.is_temporal() and v.type().is_string():
            parsed = v.nullif("").as_timestamp(str(fmt))
            out[name] = parsed.date() if col.ibis_type.is_date() else parsed
    used = {mapping.get(n) or by_norm.get(_norm(n)) for n in out} - {None}
    unmapped = sorted(found - used)
    if unmapped and "extras" in spec.names and "extras" not in out:
        out["extras"] = ibis.struct({c: t[c] for c in unmapped}).cast("json")
        unmapped = []
    result = {**out, **{c: t[c] for c in unmapped}}  # unmapped: reported as ignored
    if ROW in t.columns:
        result[ROW] = t[ROW]
    return t.select(**result)
