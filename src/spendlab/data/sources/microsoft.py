"""Microsoft Advertising (Bing Ads) report downloads: Reports > (Keyword, Ad group, Campaign,
Account or Ad) performance > Download > CSV.

The download starts with up to ~10 preamble lines (``"Report Name: Keyword Performance"``,
``"Report Time: 11/1/2024 - 11/30/2024"``, ``"Time Zone: ..."``, a blank line), then the header
and rows, and ends with a ``"©2024 Microsoft Corporation. All rights reserved. "`` line. Column
names are the API's (``TimePeriod``, ``CampaignName``, ``Spend``) or the web UI's (``Campaign
name``, ``Ad group``, ``Spend``): matching ignores case, spaces and underscores.

Reports can be large (a keyword report over months), so the file is scanned by the warehouse
backend (DuckDB), never loaded into Python. The preamble is skipped by its line count; the footer
and any ``Total`` row are filtered out. ``_row`` is the file's line number (preamble counted);
a quoted name spanning several lines shifts the numbers of the rows after it.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from spendlab.data.sources.base import (
    ROW,
    ReadContext,
    Source,
    add_row_numbers,
)
from spendlab.data.sources.countries import COUNTRIES, COUNTRY_NAMES
from spendlab.data.sources.google_ads_api import scan_csv
from spendlab.data.sources.google_ads_ui import vote_decimal

#: header (lower case, without spaces/underscores/dots) -> canonical column or helper name
HEADERS: dict[str, str] = {
    **dict.fromkeys(("timeperiod", "gregoriandate", "date", "day"), "date"),
    **dict.fromkeys(("accountname", "account"), "account_name"),
    "accountid": "account_id",
    "accountnumber": "account_number",
    **dict.fromkeys(("campaignname", "campaign"), "campaign_name"),
    "campaignid": "campaign_id",
    "campaigntype": "objective",
    **dict.fromkeys(("adgroupname", "adgroup"), "ad_group_name"),
    "adgroupid": "ad_group_id",
    **dict.fromkeys(("keyword", "keywordtext"), "keyword_text"),
    "keywordid": "keyword_id",
    **dict.fromkeys(("bidmatchtype", "matchtype"), "match_type"),
    "deliveredmatchtype": "delivered_match_type",
    "adid": "ad_id",
    **dict.fromkeys(("adtitle", "adname", "title"), "ad_name"),
    **dict.fromkeys(("devicetype", "device"), "device"),
    **dict.fromkeys(("country", "countryregion", "countryorregion"), "country"),
    **dict.fromkeys(("currencycode", "currency"), "currency"),
    **dict.fromkeys(("impressions", "impr"), "impressions"),
    "clicks": "clicks",
    **dict.fromkeys(("spend", "cost"), "spend"),
    **dict.fromkeys(("conversions", "conv"), "conversions"),
    **dict.fromkeys(("revenue", "conversionvalue"), "conversion_value"),
}
METRICS = ("impressions", "clicks", "spend", "conversions", "conversion_value")
TEXT = ("account_name", "campaign_name", "ad_group_name", "keyword_text", "ad_name")
#: finest first: (level, id column, name column)
LEVELS = (
    ("keyword", "keyword_id", "keyword_text"),
    ("ad", "ad_id", "ad_name"),
    ("ad_group", "ad_group_id", "ad_group_name"),
    ("campaign", "campaign_id", "campaign_name"),
    ("account", "account_id", "account_name"),
)
DEVICES = {"computer": "desktop", "smartphone": "mobile", "tablet": "tablet"}
DEVICES |= {"connectedtv": "tv", "connected tv": "tv", "tv": "tv", "unknown": "other"}
DEVICES |= {"other": "other", "desktop": "desktop", "mobile": "mobile"}
MATCH_TYPES = {"exact": "exact", "phrase": "phrase", "broad": "broad", "expanded": "broad"}
WRITE_DEVICES = {"desktop": "Computer", "mobile": "Smartphone", "tablet": "Tablet"}
WRITE_DEVICES |= {"tv": "ConnectedTv", "other": "Unknown"}
REPORT_NAMES = {"keyword": "Keyword Performance", "ad": "Ad Performance"}
REPORT_NAMES |= {"ad_group": "Ad Group Performance", "campaign": "Campaign Performance"}
REPORT_NAMES |= {"account": "Account Performance"}
FOOTER = "\u00a9{year} Microsoft Corporation. All rights reserved. "
_AGGREGATION = re.compile(r"report aggregation\s*:\s*(\w+)", re.I)
_SUMMARY = "(?i)^\\s*((\u00a9|\\(c\\)|copyright).*microsoft.*|(grand )?totals?\\s*(:.*)?)$"


@ibis.udf.scalar.builtin
def sha1(value: str) -> str:
    """The backend's SHA-1 as hex text (DuckDB, Spark)."""
    ...


class MicrosoftAds(Source):
    """Microsoft Advertising performance report download (CSV) -> ``ad_performance``.

    Read options:

    - ``currency``: ISO 4217 code, when the report has no ``CurrencyCode`` column.
    - ``decimal``: ``.`` or ``,`` (default: ``,`` only when the first rows show it, else ``.``).
    - ``date_format``: ``%m/%d/%Y`` (default, US) or ``%d/%m/%Y`` for slashed ``TimePeriod``
      dates; ``YYYY-MM-DD`` and ``DD.MM.YYYY`` are always recognised.
    - ``platform``: the ``platform`` value (default ``microsoft``).

    Write options: ``year`` of the copyright footer (default: the last date's year).
    """

    name: ClassVar[str] = "microsoft"
    description: ClassVar[str] = "Microsoft Advertising (Bing Ads) performance report, CSV"
    tables: ClassVar[tuple[str, ...]] = ("ad_performance",)
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)

    def read(self, ctx: ReadContext) -> dict[str, ir.Table]:
        head = self.check_file(ctx)
        encoding = _encoding(head)
        lines = re.split(r"\r\n|\r|\n", _decode_head(head))  # as the CSV scanner counts
        at, header, delim = _header(ctx, lines)
        aggregation = next((m.group(1) for ln in lines[:at] if (m := _AGGREGATION.search(ln))), "")
        if aggregation.lower() not in ("", "daily", "weekly"):
            raise ctx.fail(
                f"is a {aggregation} report; SpendLab needs daily rows",
                "run the report again with Time period > View by: Day (Daily)",
            )
        try:
            t = scan_csv(
                ctx,
                header,
                skip=at + 1,
                delim=delim,
                encoding=encoding,
                null_padding=True,  # the one-cell footer line
                parallel=False,  # DuckDB needs it with null_padding when names span lines
            )
        except Exception as e:  # an option the backend rejects
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise ctx.fail(
                f"cannot be parsed as a Microsoft Advertising CSV report: {msg}",
                "download the report again (Reports > Download > CSV) without editing it",
            ) from None
        if ctx.row_numbers:
            t = add_row_numbers(t, at + 2)
        cols = _resolve(ctx, t.columns, header)
        t = t.filter(~_is_summary(t, cols["date"]))
        decimal = _decimal(ctx, lines[at + 1 : -1], header, delim)
        out: dict[str, Any] = {"date": _date(ctx, t[cols["date"]])}
        for c in (*TEXT, "currency"):
            if c in cols:
                out[c] = t[cols[c]]
        for c in METRICS:
            if c in cols:
                out[c] = _number(t[cols[c]], decimal)
        if "currency" in cols:
            out["currency"] = t[cols["currency"]].strip().upper()
        else:
            cur = str(ctx.options.get("currency") or "").strip().upper()
            if not cur:
                raise ctx.fail(
                    f"has no CurrencyCode column (columns found: {', '.join(header)[:300]})",
                    "add the Currency code column to the report (Columns > Currency code), or "
                    "pass --option currency=XXX",
                    column="CurrencyCode",
                )
            out["currency"] = ibis.literal(cur)
        for c, table in (("device", DEVICES), ("match_type", MATCH_TYPES)):
            if c in cols:
                v = t[cols[c]].strip().lower()
                out[c] = v.substitute(table, else_=v).fill_null("")
        if "country" in cols:
            v = t[cols["country"]].strip()
            codes = {**COUNTRIES, **{c.lower(): c for c in COUNTRY_NAMES}}
            out["country"] = v.lower().substitute(codes, else_="").fill_null("")
        if "objective" in cols:
            words = t[cols["objective"]].strip().lower().re_replace(r"\W+", "_")
            out["objective"] = words.re_replace(r"^_+|_+$", "")
        out |= _ids(t, cols)
        level = next(lv for lv, i, n in LEVELS if i in cols or n in cols)
        out["platform"] = ibis.literal(str(ctx.options.get("platform") or "microsoft"))
        out["level"] = ibis.literal(level)
        extras = [c for c in t.columns if c not in cols.values() and c != ROW]
        extras += [cols["country"]] if "country" in cols else []  # the name, as reported
        if extras:
            values = {_snake(c): t[c].strip().nullif("").nullif("--") for c in extras}
            out["extras"] = ibis.struct(values).cast("json")
        if ctx.row_numbers:
            out[ROW] = t[ROW]
        return {"ad_performance": t.select(**out)}

    def write(self, frames: dict[str, Any], path: Path, **options: Any) -> Path:
        """Render canonical ``ad_performance`` rows as a Microsoft Advertising report download
        (preamble, quoted header and rows, copyright footer), UTF-8 with BOM."""
        return _write(frames["ad_performance"], Path(path), **options)


def _key(name: str) -> str:
    return re.sub(r"[\s_.\-()/]+", "", name.strip().lower())


def _snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[^0-9a-z]+", "_", s.lower()).strip("_") or "column"


def _decode_head(head: bytes) -> str:
    """The first bytes as text; a character cut at the end of the sample is dropped."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start >= len(head) - 4:
            return head[: e.start].decode("utf-8-sig")
        return head.decode("cp1252", errors="replace")


def _encoding(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "latin-1"
    return "utf-8"


def _header(ctx: ReadContext, lines: list[str]) -> tuple[int, list[str], str]:
    """(line index of the header, its cells, delimiter), looked for in the first 30 lines."""
    for i, line in enumerate(lines[:30]):
        delim = "\t" if "\t" in line else ","
        cells = next(csv.reader([line], delimiter=delim), [])
        if sum(_key(c) in HEADERS for c in cells) >= 2:
            return i, [c.strip() for c in cells], delim
    first = lines[0][:200] if lines else ""
    raise ctx.fail(
        "has no Microsoft Advertising header row (looked for TimePeriod, CampaignName, "
        f"Impressions, Spend in the first 30 lines; first line: {first!r})",
        "download the report from Microsoft Advertising (Reports > Download > CSV) without "
        "editing it",
    )


def _resolve(ctx: ReadContext, columns: list[str], header: list[str]) -> dict[str, str]:
    cols: dict[str, str] = {}
    for c in columns:
        if c != ROW and _key(c) in HEADERS:
            cols.setdefault(HEADERS[_key(c)], c)
    found = ", ".join(header)[:300]
    if "date" not in cols:
        raise ctx.fail(
            f"has no TimePeriod column, so its rows are not daily (columns found: {found})",
            "run the report with Time period > View by: Day (Daily), which adds TimePeriod",
            column="TimePeriod",
        )
    if not any(i in cols or n in cols for _, i, n in LEVELS):
        raise ctx.fail(
            f"has no Account, Campaign, Ad group, Keyword or Ad column (columns found: {found})",
            "add the name and Id columns of the report's level (e.g. Campaign name, Campaign ID)",
        )
    if not any(m in cols for m in METRICS):
        raise ctx.fail(
            f"has no metric column (Impressions, Clicks, Spend; columns found: {found})",
            "add the Impressions, Clicks, Spend, Conversions and Revenue columns",
        )
    if "account_id" not in cols and "account_number" in cols:
        cols["account_id"] = cols.pop("account_number")
    if "delivered_match_type" in cols and "match_type" not in cols:
        cols["match_type"] = cols.pop("delivered_match_type")
    cols.pop("account_number", None)
    cols.pop("delivered_match_type", None)  # kept in extras
    return cols


def _is_summary(t: ir.Table, date_col: str) -> ir.BooleanValue:
    """The copyright footer and ``Total`` rows: no date, and a first cell saying so."""
    day = t[date_col].strip()
    dated = day.re_search(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").fill_null(False)
    first = t[t.columns[0]]
    label = first.re_search(_SUMMARY).fill_null(False)
    blank = ibis.and_(*(t[c].isnull() for c in t.columns if c != ROW))
    return ~dated & (label | blank)


def _date(ctx: ReadContext, raw: ir.StringValue) -> ir.StringValue:
    """``TimePeriod`` as ``YYYY-MM-DD`` text (unrecognised values pass unchanged)."""
    fmt = str(ctx.options.get("date_format") or "%m/%d/%Y")
    if fmt not in ("%m/%d/%Y", "%d/%m/%Y"):
        raise ctx.fail(
            f"option date_format is {fmt!r}",
            "pass --option date_format=%m/%d/%Y (US) or --option date_format=%d/%m/%Y",
        )
    s = raw.strip()
    month, day = r"(0?[1-9]|1[0-2])", r"(0?[1-9]|[12]\d|3[01])"
    first, second = (month, day) if fmt == "%m/%d/%Y" else (day, month)
    slash = rf"^{first}/{second}/(\d{{4}})(\s.*)?$"
    dotted = rf"^{day}\.{month}\.(\d{{4}})(\s.*)?$"
    m, d = (1, 2) if fmt == "%m/%d/%Y" else (2, 1)

    def ymd(pattern: str, month: int, day: int) -> ir.StringValue:
        return (
            s.re_extract(pattern, 3)
            + "-"
            + s.re_extract(pattern, month).lpad(2, "0")
            + "-"
            + s.re_extract(pattern, day).lpad(2, "0")
        )

    return ibis.cases(
        (s.re_search(r"^\d{4}-\d{2}-\d{2}([ T].*)?$"), s.substr(0, 10)),
        (s.re_search(slash), ymd(slash, m, d)),
        (s.re_search(dotted), ymd(dotted, 2, 1)),
        else_=s,
    )


def _decimal(ctx: ReadContext, lines: list[str], header: list[str], delim: str) -> str:
    opt = ctx.options.get("decimal")
    if opt not in (None, ""):
        if str(opt) not in (".", ","):
            raise ctx.fail(
                f"option decimal is {opt!r}", "pass --option decimal=. or --option decimal=,"
            )
        return str(opt)
    numeric = [i for i, h in enumerate(header) if HEADERS.get(_key(h)) in METRICS]
    rows = csv.reader(lines, delimiter=delim)
    votes = {vote_decimal(r[i]) for r in rows for i in numeric if i < len(r)}
    return "," if "," in votes and "." not in votes else "."


def _number(value: ir.StringValue, decimal: str) -> ir.StringValue:
    """A localized number as ``1234.56``; blank or ``--`` as NULL; malformed text unchanged (the
    loader reports it with its line)."""
    thousands = "," if decimal == "." else "."
    t, d = re.escape(thousands), re.escape(decimal)
    pattern = rf"^[-+]?(\d{{1,3}}({t}\d{{3}})+|\d+)({d}\d+)?$"
    s = value.strip().re_replace("[\\s\u00a0\u202f%$€£¥]", "")
    clean = s.replace(thousands, "")
    if decimal != ".":
        clean = clean.replace(decimal, ".")
    return ibis.cases(
        (s.isnull() | s.isin(["", "--", "-"]), ibis.null("string")),
        (s.re_search(pattern), clean),
        else_=value.strip(),
    )


def _name_id(*parts: ir.StringValue) -> ir.StringValue:
    """:func:`~spendlab.data.sources.base.name_id` as an expression (same ids)."""
    joined = parts[0].fill_null("")
    for p in parts[1:]:
        joined = joined + "\x1f" + p.fill_null("")
    return ibis.literal("n-") + sha1(joined).substr(0, 16)


def _ids(t: ir.Table, cols: dict[str, str]) -> dict[str, ir.StringValue]:
    """Ids of every level present; names stand in (hashed) where the id column is missing."""
    present = {lv for lv, i, n in LEVELS if i in cols or n in cols}

    def given(c: str) -> ir.StringValue | None:
        return t[cols[c]].strip() if c in cols else None

    def name(c: str) -> ir.StringValue:
        return t[cols[c]] if c in cols else ibis.null("string")

    out: dict[str, ir.StringValue] = {}
    acct = given("account_id")
    if acct is None and "account_name" in cols:
        acct = _name_id(t[cols["account_name"]])
    if acct is not None:
        out["account_id"] = acct
    parent = acct if acct is not None else ibis.literal("")
    for level, parts in (
        ("campaign", ("campaign_name",)),
        ("ad_group", ("ad_group_name",)),
        ("keyword", ("keyword_text", "match_type")),
        ("ad", ("ad_name",)),
    ):
        if level not in present:
            continue
        ident = given(f"{level}_id")
        if ident is None:
            values = [name(p) for p in parts]
            if level == "keyword" and "match_type" in cols:
                values[1] = t[cols["match_type"]].strip().lower()
            ident = _name_id(parent, *values)
        out[f"{level}_id"] = ident
        if level != "keyword":
            parent = ident
    return out


# -- writer --------------------------------------------------------------------------------------
def _write(df: Any, path: Path, **options: Any) -> Path:
    import pandas as pd

    df = df.reset_index(drop=True)

    def has(c: str) -> bool:
        return c in df.columns and bool(df[c].fillna("").astype(str).ne("").any())

    level = next((lv for lv, i, _ in LEVELS if has(i)), "campaign")
    chain = {"keyword": ["campaign", "ad_group", "keyword"], "ad": ["campaign", "ad_group", "ad"]}
    chain |= {"ad_group": ["campaign", "ad_group"], "campaign": ["campaign"], "account": []}
    dates = pd.to_datetime(df["date"]) if len(df) else pd.Series([], dtype="datetime64[ns]")
    spec: list[tuple[str, Any]] = [("TimePeriod", None)]
    spec += [("AccountName", "account_name"), ("AccountId", "account_id")]
    names = {"campaign": "Campaign", "ad_group": "AdGroup", "keyword": "Keyword", "ad": "Ad"}
    name_cols = {lv: n for lv, _, n in LEVELS}
    for lv in chain[level]:
        spec.append((names[lv] if lv == "keyword" else f"{names[lv]}Name", name_cols[lv]))
        spec.append((f"{names[lv]}Id", f"{lv}_id"))
    if level == "keyword":
        spec.append(("BidMatchType", "match_type"))
    spec += [("DeviceType", "device")] if has("device") else []
    spec += [("Country", "country")] if has("country") else []
    spec += [("CurrencyCode", "currency"), ("Impressions", "impressions"), ("Clicks", "clicks")]
    spec += [("Spend", "spend"), ("Conversions", "conversions"), ("Revenue", "conversion_value")]
    spec = [(h, c) for h, c in spec if c is None or c in df.columns]
    rows = []
    for rec, day in zip(df.to_dict("records"), dates, strict=True):
        row = [f"{day.month}/{day.day}/{day.year}"]
        for _, c in spec[1:]:
            v = rec.get(c)
            if v is None or (isinstance(v, float) and v != v):
                row.append("")
            elif c == "device":
                row.append(WRITE_DEVICES.get(str(v), str(v)))
            elif c == "match_type":
                row.append(str(v).capitalize())
            elif c == "country":
                row.append(COUNTRY_NAMES.get(str(v), str(v)))
            elif c in ("impressions", "clicks"):
                row.append(str(int(v)))
            elif c in METRICS:
                row.append(repr(float(v)).removesuffix(".0"))
            else:
                row.append(str(v))
        rows.append(row)
    span = "All time"
    if len(df):
        lo, hi = dates.min(), dates.max()
        span = f"{lo.month}/{lo.day}/{lo.year} - {hi.month}/{hi.day}/{hi.year}"
    year = options.get("year") or (dates.max().year if len(df) else 2024)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerows(
        [
            [f"Report Name: {REPORT_NAMES[level]}"],
            [f"Report Time: {span}"],
            ["Time Zone: (GMT-08:00) Pacific Time (US & Canada); Tijuana"],
            [f"Last Completed Available Day: {span.split(' - ')[-1]} 11:59:59 PM"],
            ["Potential Incomplete Data: false"],
            [f"Rows: {len(df)}"],
            [],
            [h for h, _ in spec],
            *rows,
            [],
            [FOOTER.format(year=year)],
        ]
    )
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    return path
