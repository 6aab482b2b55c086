"""Google Ads UI exports: a campaigns, ad groups or keywords table (or a report) downloaded from
the Google Ads web interface, as CSV, "CSV for Excel" (UTF-16 TSV) or Excel (.xlsx).

The export is a UI table, parsed in memory (``in_memory``). Quirks handled: a title line
("Keyword report") and a date-range line before the header; UTF-16LE tab-separated with BOM
("CSV for Excel") or UTF-8 comma-separated (with or without BOM); ``Total: ...`` summary rows
(dropped); ``--`` and blanks for nulls; localized numbers (``1,234.56``, ``1.234,56``,
``1 234,56`` with NBSP) and percents; ``Customer ID`` with dashes; UI labels for devices, match
types and countries; weekly rows (``Week``: the week's first day is the date); ids missing when
the id columns were not added (stable ids derived from the names chain with
:func:`~spendlab.data.sources.base.name_id`).

A number that is malformed for the export's locale (``12,34,5``) is passed on unchanged, so the
loader rejects it with its line. Line numbers (``_row``) are the file's physical lines (title and
date-range lines included), or the sheet's row numbers for XLSX.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from spendlab.data.sources.base import ROW, ReadContext, Source, decode_text, name_id
from spendlab.data.sources.countries import COUNTRIES

#: normalised header -> internal column (a canonical name, or ``week`` / ``interactions``)
HEADERS: dict[str, str] = {
    **dict.fromkeys(("day", "date"), "date"),
    "week": "week",
    **dict.fromkeys(("account", "account name"), "account_name"),
    "customer id": "account_id",
    **dict.fromkeys(("campaign", "campaign name"), "campaign_name"),
    "campaign id": "campaign_id",
    "campaign type": "objective",
    **dict.fromkeys(("ad group", "ad group name"), "ad_group_name"),
    "ad group id": "ad_group_id",
    **dict.fromkeys(("keyword", "search keyword", "keyword text"), "keyword_text"),
    "keyword id": "keyword_id",
    **dict.fromkeys(
        ("match type", "search keyword match type", "keyword match type"), "match_type"
    ),
    "device": "device",
    **dict.fromkeys(("country/territory", "country/territory (user location)"), "country"),
    **dict.fromkeys(("currency code", "currency"), "currency"),
    **dict.fromkeys(("impr.", "impressions"), "impressions"),
    "clicks": "clicks",
    "interactions": "interactions",
    "cost": "spend",
    "conversions": "conversions",
    **dict.fromkeys(("conv. value", "conversion value", "total conv. value"), "conversion_value"),
}
METRICS = ("impressions", "clicks", "spend", "conversions", "conversion_value")
#: finest first: (level, id column, name column)
LEVELS = (
    ("keyword", "keyword_id", "keyword_text"),
    ("ad_group", "ad_group_id", "ad_group_name"),
    ("campaign", "campaign_id", "campaign_name"),
    ("account", "account_id", "account_name"),
)
DEVICES = {
    **dict.fromkeys(("computers", "computer", "desktop", "ordinateurs", "ordenadores"), "desktop"),
    **dict.fromkeys(("mobile phones", "mobile devices with full browsers", "mobile"), "mobile"),
    **dict.fromkeys(("smartphones", "mobiltelefone", "mobiles", "móviles"), "mobile"),
    **dict.fromkeys(("tablets", "tablet", "tablets with full browsers", "tablettes"), "tablet"),
    **dict.fromkeys(("tv screens", "tv", "connected tv", "écrans tv", "pantallas de tv"), "tv"),
    **dict.fromkeys(
        ("other", "unknown", "andere", "sonstige", "autre", "autres", "otros"), "other"
    ),
}
MATCH_TYPES = {
    **dict.fromkeys(("exact match", "exact", "exact (close variant)", "genau passend"), "exact"),
    **dict.fromkeys(("concordancia exacta", "exacte"), "exact"),
    **dict.fromkeys(("phrase match", "phrase", "phrase (close variant)"), "phrase"),
    **dict.fromkeys(("passende wortgruppe", "expression exacte"), "phrase"),
    **dict.fromkeys(("concordancia de frase",), "phrase"),
    **dict.fromkeys(("broad match", "broad", "weitgehend passend", "requête large"), "broad"),
    **dict.fromkeys(("concordancia amplia", "broad match modifier"), "broad"),
}
_MONTH_TABLE = """jan january januar janvier janv enero ene gennaio gen jänner|feb february
februar février fevrier févr fevr fév febrero febbraio|mar march märz marz mär mars marzo|apr
april avril avr abril abr aprile|may mai mayo maggio mag|jun june juni juin junio giugno giu|jul
july juli juillet juil julio luglio lug|aug august août aout aoû agosto ago|sep sept september
septembre septiembre settembre set|oct october oktober okt octobre octubre ottobre ott|nov november
novembre noviembre|dec december dezember dez décembre decembre déc diciembre dicembre dic"""
MONTHS = {n: i for i, names in enumerate(_MONTH_TABLE.split("|"), 1) for n in names.split()}
_TOTAL = re.compile(r"^(total|totals|gesamt|summe|totale|totaal|totalt)\b[^:]{0,40}:", re.I)
_CUSTOMER_ID = re.compile(r"^\d{3}-\d{3}-\d{4}$")
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T][\d:.]*)?$")
_NUMERIC_DATE = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4})$")
_STRIP = re.compile(r"[\s\u00a0\u202f%$€£¥₹]")
_NULLS = frozenset({"", "--", "-"})


def _number_pattern(decimal: str) -> re.Pattern[str]:
    t, d = re.escape("," if decimal == "." else "."), re.escape(decimal)
    return re.compile(rf"^[-+]?(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)(?:{d}\d+)?$")


_NUMBER = {".": _number_pattern("."), ",": _number_pattern(",")}


class GoogleAdsUI(Source):
    """Google Ads web-interface download (CSV, CSV for Excel, XLSX) -> ``ad_performance``.

    Read options:

    - ``currency``: ISO 4217 code, when the export has no ``Currency code`` column.
    - ``decimal``: ``.`` or ``,``, the decimal separator of the export's language; detected from
      the numbers by default (an export whose numbers read either way is rejected).
    - ``date_format``: a ``strptime`` format for dates the reader cannot infer (``%d/%m/%Y``).
    - ``platform``: the ``platform`` value (default ``google_ads``).

    Write options: ``excel`` (true: UTF-16LE tab-separated "CSV for Excel"), ``decimal``
    (``,`` writes ``1.234,56``), ``title`` (first line). A path ending in ``.xlsx`` writes a
    workbook.
    """

    name: ClassVar[str] = "google_ads_ui"
    description: ClassVar[str] = "Google Ads UI table download (CSV, CSV for Excel, XLSX)"
    tables: ClassVar[tuple[str, ...]] = ("ad_performance",)
    suffixes: ClassVar[tuple[str, ...]] = (".csv", ".tsv", ".xlsx")
    in_memory: ClassVar[bool] = True

    def read(self, ctx: ReadContext) -> dict[str, ir.Table]:
        self.check_file(ctx)
        xlsx = ctx.path.suffix.lower() == ".xlsx"
        records = _xlsx_records(ctx) if xlsx else _text_records(ctx)
        at = _header_index(ctx, records)
        header = [c.strip() for c in records[at][1]]
        export = _Export(ctx, header, records[at + 1 :])
        t = ibis.memtable(export.build())
        consts = {"platform": str(ctx.options.get("platform") or "google_ads")}
        consts["level"] = export.level
        return {"ad_performance": t.mutate(**{k: ibis.literal(v) for k, v in consts.items()})}

    def write(self, frames: dict[str, Any], path: Path, **options: Any) -> Path:
        """Render canonical ``ad_performance`` rows as a Google Ads UI download: title line,
        date-range line, header, rows, ``Total: Account`` row. Like the UI's tables, one file
        holds one level (the finest with ids in the frame)."""
        from spendlab.data.sources.google_ads_ui_writer import write_export

        return write_export(frames["ad_performance"], Path(path), **options)


class _Export:
    """One export with its columns resolved; :meth:`build` turns its rows into canonical text."""

    def __init__(
        self, ctx: ReadContext, header: list[str], records: list[tuple[int, list[str]]]
    ) -> None:
        self.ctx, self.header = ctx, header
        cols: dict[str, int] = {}
        for i, h in enumerate(header):
            if _norm(h) in HEADERS:
                cols.setdefault(HEADERS[_norm(h)], i)
        self.cols = cols
        found = ", ".join(h for h in header if h)[:400]
        self.date_col = cols.get("date", cols.get("week"))
        if self.date_col is None:
            raise ctx.fail(
                f"has no Day column, so its rows are not daily (columns found: {found})",
                "in Google Ads add Segment > Time > Day to the table (or the 'Day' column to "
                "the report) and download again; weekly exports ('Week') are accepted too",
                column="Day",
            )
        if not any(m in cols for m in (*METRICS, "interactions")):
            raise ctx.fail(
                f"has no metric column (Impr., Clicks, Cost, Conversions; columns found: {found})",
                "add the Impr., Clicks, Cost, Conversions and Conv. value columns and download "
                "again",
            )
        self.levels = [lv for lv, i, n in LEVELS if i in cols or n in cols]
        if not self.levels:
            raise ctx.fail(
                f"has no Campaign, Ad group, Keyword or Account column (columns found: {found})",
                "download the campaigns, ad groups or keywords table with its name columns (and "
                "Campaign ID / Ad group ID / Keyword ID, which keep ids stable across renames)",
            )
        self.level = self.levels[0]
        self.currency = ctx.options.get("currency")
        if "currency" not in cols and not self.currency:
            raise ctx.fail(
                f"has no Currency code column (columns found: {found})",
                "add the 'Currency code' column to the table, or pass --option currency=XXX "
                "(the account's currency, e.g. USD)",
                column="Currency code",
            )
        self.body = _body(ctx, records, len(header), self.date_col)
        used = set(cols.values())
        if "clicks" in cols and "interactions" in cols:  # kept in extras
            used.discard(cols["interactions"])
        self.extra_cols = [i for i, h in enumerate(header) if h and i not in used]
        numeric = [cols[m] for m in (*METRICS, "interactions") if m in cols] + self.extra_cols
        self.decimal = self._decimal(numeric)
        self.date_format = self._date_format()

    def _decimal(self, numeric: list[int]) -> str:
        opt = self.ctx.options.get("decimal")
        if opt not in (None, ""):
            if str(opt) not in (".", ","):
                raise self.ctx.fail(
                    f"option decimal is {opt!r}", "pass --option decimal=. or --option decimal=,"
                )
            return str(opt)
        votes: dict[str, list[str]] = {".": [], ",": [], "?": []}
        for _, r in self.body:
            for i in numeric:
                v = vote_decimal(r[i])
                if v is not None:
                    votes[v].append(r[i])
        if votes["."] and votes[","]:
            raise self.ctx.fail(
                f"has numbers written with '.' as the decimal separator ({votes['.'][0]!r}) and "
                f"others with ',' ({votes[','][0]!r})",
                "pass the export language's separator: --option decimal=. or --option decimal=,",
            )
        if votes[","]:
            return ","
        if votes["."] or not votes["?"]:
            return "."
        raise self.ctx.fail(
            f"has numbers such as {votes['?'][0]!r} that read differently with '.' or ',' as the "
            "decimal separator, and none that decides which",
            "pass the export language's decimal separator: --option decimal=, (German, French, "
            "Spanish, ...) or --option decimal=. (English)",
            value=votes["?"][0],
        )

    def _date_format(self) -> str | None:
        """``strptime`` format for numeric d/m/y dates, decided over the whole column."""
        opt = self.ctx.options.get("date_format")
        if opt:
            return str(opt)
        firsts, seconds, sep = set(), set(), "/"
        for _, r in self.body:
            m = _NUMERIC_DATE.match(r[self.date_col].strip())
            if m and m.group(2) != ".":
                firsts.add(int(m.group(1)))
                seconds.add(int(m.group(3)))
                sep = m.group(2)
        if not firsts:
            return None
        if max(firsts) > 12:
            return f"%d{sep}%m{sep}%Y"
        if max(seconds) > 12:
            return f"%m{sep}%d{sep}%Y"
        raise self.ctx.fail(
            "has dates such as 01/02/2024 where day and month cannot be told apart",
            "pass their format: --option date_format=%d/%m/%Y or --option date_format=%m/%d/%Y",
            column=self.header[self.date_col],
        )

    def _get(self, r: list[str], col: str) -> str | None:
        i = self.cols.get(col)
        if i is None or r[i].strip() in _NULLS:
            return None
        return r[i]

    def build(self) -> pa.Table:
        cols, dec = self.cols, self.decimal
        names = ["date", "account_id", "campaign_id", "ad_group_id", "keyword_id", "currency"]
        names += [c for c in ("account_name", "campaign_name", "ad_group_name") if c in cols]
        names += [c for c in ("keyword_text", "device", "country") if c in cols]
        names += ["match_type"] if "keyword_text" in cols or "match_type" in cols else []
        names += [c for c in ("objective",) if c in cols]
        clicks = "clicks" if "clicks" in cols else "interactions"
        metrics = {m: m for m in METRICS if m in cols} | (
            {"clicks": clicks} if clicks in cols else {}
        )
        out: dict[str, list[Any]] = {c: [] for c in [*names, *metrics, "extras", ROW]}
        wanted = set(self.levels)
        for line, r in self.body:
            extras: dict[str, Any] = {}
            raw = r[self.date_col]
            row = {"date": _parse_date(raw, self.date_format) or raw.strip(), ROW: line}
            row |= {c: self._get(r, c) for c in ("account_name", "campaign_name", "ad_group_name")}
            acct = (self._get(r, "account_id") or "").strip()
            if _CUSTOMER_ID.match(acct):
                acct = acct.replace("-", "")
            if not acct and row["account_name"] is not None:
                acct = name_id(row["account_name"])
            row["account_id"] = acct
            kw, mt = self._get(r, "keyword_text"), self._get(r, "match_type")
            if kw is not None and "match_type" not in cols:
                kw, mt = _split_keyword(kw)
            row["keyword_text"] = kw
            row["match_type"] = None if mt is None else MATCH_TYPES.get(_norm(mt), _norm(mt))
            parent = acct
            for level, parts in (
                ("campaign", (row["campaign_name"],)),
                ("ad_group", (row["ad_group_name"],)),
                ("keyword", (kw, row["match_type"])),
            ):
                if level in wanted:
                    given = (self._get(r, f"{level}_id") or "").strip()
                    parent = row[f"{level}_id"] = given or name_id(parent, *parts)
                else:
                    row[f"{level}_id"] = ""
            device = self._get(r, "device")
            row["device"] = "" if device is None else DEVICES.get(_norm(device), _norm(device))
            country = self._get(r, "country")
            code = _country(country)
            if country is not None and code is None:
                extras["country_territory"] = country
            row["country"] = code or ""
            objective = self._get(r, "objective")
            row["objective"] = None if objective is None else _snake(objective)
            currency = (self._get(r, "currency") or "").strip().upper()
            row["currency"] = currency or str(self.currency or "").strip().upper() or None
            row |= {m: _number(r[cols[src]], dec) for m, src in metrics.items()}
            for i in self.extra_cols:
                if r[i].strip() not in _NULLS:
                    extras[_snake(self.header[i])] = _extra_value(r[i], dec)
            row["extras"] = json.dumps(extras, ensure_ascii=False) if extras else None
            for c, values in out.items():
                values.append(row[c])
        data = {c: pa.array(v, pa.string()) for c, v in out.items() if c != ROW}
        if self.ctx.row_numbers:
            data[ROW] = pa.array(out[ROW], pa.int64())
        return pa.table(data)


def _norm(s: str) -> str:
    return " ".join(s.strip().lower().split())


def _snake(s: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", s.strip().lower()).strip("_") or "column"


def _country(name: str | None) -> str | None:
    if name is None:
        return None
    s = name.strip()
    if len(s) == 2 and s.isalpha() and s.isupper():
        return s
    return COUNTRIES.get(s.lower())


def _split_keyword(kw: str) -> tuple[str, str]:
    """Keyword text written with its match type: ``[exact]``, ``"phrase"``, ``broad``."""
    s = kw.strip()
    if len(s) > 2 and s[0] == "[" and s[-1] == "]":
        return s[1:-1], "exact"
    if len(s) > 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1], "phrase"
    return kw, "broad"


def vote_decimal(cell: str) -> str | None:
    """Which decimal separator a number implies: ``.``, ``,``, ``?`` (either), None (no clue)."""
    s = _STRIP.sub("", cell).lstrip("+-")
    if _ISO.match(s) or _NUMERIC_DATE.match(s):
        return None
    if not s or not s[0].isdigit() or s.strip("0123456789.,"):
        return None
    dots, commas = s.count("."), s.count(",")
    if dots and commas:
        return "." if s.rfind(".") > s.rfind(",") else ","
    if not (dots or commas):
        return None
    sep, other = (".", ",") if dots else (",", ".")
    if dots + commas > 1:
        return other  # repeated: a thousands separator
    whole, frac = s.split(sep)
    if len(frac) != 3 or len(whole) > 3 or not whole.strip("0"):
        return sep
    return "?"


def _number(cell: str, decimal: str) -> str | None:
    """A localized number as ``1234.56``; None for ``--``/blank; malformed text unchanged."""
    s = _STRIP.sub("", cell)
    if s in _NULLS:
        return None
    if not _NUMBER[decimal].match(s):
        return cell.strip()
    return s.replace("," if decimal == "." else ".", "").replace(decimal, ".")


def _extra_value(cell: str, decimal: str) -> Any:
    """Extras keep numbers as JSON numbers (percent cells in percent units), text as text."""
    s = _number(cell, decimal)
    if s is None or not _NUMBER["."].match(s):
        return cell.strip()
    return int(s) if re.fullmatch(r"[-+]?\d+", s) and len(s) < 16 else float(s)


def _parse_date(value: str, fmt: str | None) -> str | None:
    """ISO ``YYYY-MM-DD`` from ISO, ``fmt``, d.m.Y or month-name dates (None if not a date)."""
    s = value.strip()
    if fmt:
        try:
            return dt.datetime.strptime(s, fmt).date().isoformat()
        except ValueError:
            pass
    try:
        if m := _ISO.match(s):
            y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        elif m := _NUMERIC_DATE.match(s):
            if m.group(2) != ".":  # d/m or m/d: only with a format decided over the column
                return None
            y, mo, d = int(m.group(4)), int(m.group(3)), int(m.group(1))
        else:
            tokens = re.findall(r"\d+|[^\W\d_]+", s.lower())
            months = [MONTHS[t] for t in tokens if t in MONTHS]
            nums = [t for t in tokens if t.isdigit()]
            years = [t for t in nums if len(t) == 4]
            days = [t for t in nums if len(t) <= 2]
            if len(months) != 1 or len(years) != 1 or len(days) != 1 or len(nums) != 2:
                return None
            y, mo, d = int(years[0]), months[0], int(days[0])
        return dt.date(y, mo, d).isoformat()
    except ValueError:
        return None


def _header_index(ctx: ReadContext, records: list[tuple[int, list[str]]]) -> int:
    """The header is the first record, within the first 15, that names two known columns."""
    for i, (_, r) in enumerate(records[:15]):
        if sum(_norm(c) in HEADERS for c in r) >= 2:
            return i
    first = " | ".join(records[0][1])[:200] if records else ""
    raise ctx.fail(
        "has no Google Ads header row (looked for columns such as Day, Campaign, Impr., Clicks, "
        f"Cost in the first 15 lines; first line: {first!r})",
        "download the table from the Google Ads web interface (Download > CSV, CSV for Excel or "
        "Excel .xlsx) without editing it; Google Ads API files use --source google_ads_api",
    )


def _body(
    ctx: ReadContext, records: list[tuple[int, list[str]]], width: int, date_col: int
) -> list[tuple[int, list[str]]]:
    """Data rows: blank rows and ``Total: ...`` summary rows dropped, short rows padded."""
    out = []
    for line, r in records:
        if not any(c.strip() for c in r):
            continue
        if len(r) > width and any(c.strip() for c in r[width:]):
            raise ctx.fail(
                f"line has {len(r)} cells but the header has {width} (a name containing the "
                "delimiter without quotes?)",
                "download the file again from Google Ads without editing it",
                row=line,
            )
        r = (r + [""] * width)[:width]
        first = next(c for c in r if c.strip()).strip()
        day = r[date_col].strip()
        if _TOTAL.match(first) and (_TOTAL.match(day) or not any(ch.isdigit() for ch in day)):
            continue
        out.append((line, r))
    return out


def _text_records(ctx: ReadContext) -> list[tuple[int, list[str]]]:
    """(first physical line, cells) of every CSV/TSV record."""
    try:
        content = decode_text(ctx.path.read_bytes())
    except UnicodeDecodeError as e:  # a UTF-16 byte-order mark followed by invalid UTF-16
        raise ctx.fail(
            f"is not valid {e.encoding.upper()} text (bytes {e.start}-{e.end})",
            "download the file again from Google Ads (CSV, or CSV for Excel) without editing it",
        ) from None
    if "\x00" in content:
        raise ctx.fail(
            "contains NUL characters (a UTF-16 file without its byte-order mark?)",
            "download the file again from Google Ads (CSV, or CSV for Excel) without editing it",
        )
    delimiter = "\t" if any("\t" in ln for ln in content[:65536].splitlines()[:20]) else ","
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for r in reader:
            records.append((line, r))
            line = reader.line_num + 1
    except csv.Error as e:
        raise ctx.fail(
            f"cannot be parsed as delimited text ({e})",
            "download the file again from Google Ads (unbalanced quotes or a truncated file?)",
            row=line,
        ) from None
    return records


def _xlsx_records(ctx: ReadContext) -> list[tuple[int, list[str]]]:
    """(sheet row number, cells as text) of the first sheet."""
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(ctx.path))
        rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as e:  # a corrupt workbook: calamine raises its own error types
        raise ctx.fail(
            f"cannot be opened as an Excel workbook ({type(e).__name__}: {str(e)[:200]})",
            "download the table again from Google Ads as Excel (.xlsx), or as CSV",
        ) from None
    return [(n, [_xlsx_cell(v) for v in r]) for n, r in enumerate(rows, start=1)]


def _xlsx_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)
