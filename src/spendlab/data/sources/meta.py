"""Meta Ads Manager exports: Reports > Export table data, as CSV or XLSX.

The export is a UI table, so it is parsed in memory (``in_memory``). Quirks handled: the currency
sits in the header (``Amount spent (USD)``); a row covers ``Reporting starts`` .. ``Reporting
ends`` and must be one day (Breakdown > By time > Day); the same purchase is reported under
several action types (``Purchases`` is the total of website, in-app, offline and on-Meta
purchases, never added to them); a trailing summary row with no names; localized numbers; ids
missing when the id columns were not added (a stable id is derived from the names).

Options:

- ``currency``: ISO 4217 code when no header names one (and no ``Currency`` column).
- ``conversion_event``: the action counted as ``conversions`` (default ``Purchases``; e.g.
  ``Leads``, ``Registrations completed``), as its column is named in Ads Manager.
- ``decimal``: ``.`` or ``,``; by default detected from the numbers in the file.
- ``date_format``: a ``strptime`` format for dates that are not ``YYYY-MM-DD`` (e.g. ``%d/%m/%Y``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from spendlab.core.money import CURRENCIES
from spendlab.data.sources.base import ROW, ReadContext, Source, decode_text, name_id

#: canonical level -> (id header, name header), finest first
LEVELS = (
    ("ad", "ad id", "ad name"),
    ("ad_group", "ad set id", "ad set name"),
    ("campaign", "campaign id", "campaign name"),
    ("account", "account id", "account name"),
)
DEVICES = {
    "desktop": "desktop",
    "iphone": "mobile",
    "ipod": "mobile",
    "android_smartphone": "mobile",
    "mobile_app": "mobile",
    "mobile_web": "mobile",
    "mobile": "mobile",
    "ipad": "tablet",
    "android_tablet": "tablet",
    "tablet": "tablet",
    "connected_tv": "tv",
    "tv": "tv",
}
WRITE_DEVICES = {"desktop": "desktop", "mobile": "android_smartphone", "tablet": "ipad"}
WRITE_DEVICES |= {"tv": "connected_tv", "other": "other"}
OBJECTIVES = {
    "conversions": "sales",
    "product_catalog_sales": "sales",
    "lead_generation": "leads",
    "link_clicks": "traffic",
    "brand_awareness": "awareness",
    "reach": "awareness",
    "post_engagement": "engagement",
    "app_installs": "app_promotion",
}
#: breakdowns that split a day x entity into rows the canonical table cannot tell apart
UNSUPPORTED = ("age", "gender", "region", "dma region", "platform", "placement", "hour of day")
UNSUPPORTED += ("time of day (ad account time zone)", "time of day (viewer's time zone)")
PARTS = ("website", "in-app", "app", "offline", "meta", "on-meta", "on-facebook")
RESULT_KEYS = {
    "purchases": ("purchase",),
    "leads": ("lead",),
    "registrations completed": ("complete_registration",),
    "adds to cart": ("add_to_cart",),
    "checkouts initiated": ("initiate_checkout",),
    "app installs": ("app_install",),
}
_TEXT = {"reporting starts", "reporting ends", "day", "date", "country", "impression device"}
_TEXT |= {"device platform", "objective", "currency", "result indicator", "result type"}
_ANCHORS = {"reporting starts", "day", "campaign name", "ad set name", "ad name", "amount spent"}
_SUMMARY = re.compile(r"(?i)^results from \d+ \w+$")  # "Results from 12 campaigns"
_CURRENCY = re.compile(r"\s*\(([A-Z]{3})\)\s*$")


class MetaAds(Source):
    """Meta Ads Manager table export (CSV or XLSX) -> ``ad_performance``.

    Options: ``currency``, ``conversion_event`` (default ``Purchases``), ``decimal`` (``.`` or
    ``,``, detected by default), ``date_format`` (strptime). Writer options: ``currency``,
    ``decimal``, ``summary_row`` (append Meta's unnamed total row).
    """

    name: ClassVar[str] = "meta"
    description: ClassVar[str] = "Meta Ads Manager export (Reports > Export table data), CSV/XLSX"
    tables: ClassVar[tuple[str, ...]] = ("ad_performance",)
    suffixes: ClassVar[tuple[str, ...]] = (".csv", ".xlsx")
    in_memory: ClassVar[bool] = True

    def read(self, ctx: ReadContext) -> dict[str, ir.Table]:
        self.check_file(ctx)
        rows = _xlsx_rows(ctx) if ctx.path.suffix.lower() == ".xlsx" else _csv_rows(ctx)
        at = next(
            (i for i, (_, r) in enumerate(rows[:30]) if _ANCHORS & {_key(c) for c in r}), None
        )
        if at is None:
            first = " | ".join(rows[0][1])[:200] if rows else ""
            raise ctx.fail(
                "has no Meta Ads header row (looked for 'Reporting starts', 'Campaign name', "
                f"'Amount spent (USD)' in the first 30 rows; first row: {first!r})",
                "export from Ads Manager: Reports > Export table data (CSV or XLSX)",
            )
        header = _unique([_s(c) for c in rows[at][1]])
        cols = {_key(h): h for h in reversed(header)}  # first header wins on a duplicate key
        width = len(header)
        for n, r in rows[at + 1 :]:
            if any(_s(v) for v in r[width:]):
                raise ctx.fail(
                    f"row has {len(r)} cells but the header has {width} (a name with an "
                    "unquoted delimiter?)",
                    "export the file again from Ads Manager without editing it",
                    row=n,
                )
        body = [(n, dict(zip(header, r, strict=False))) for n, r in rows[at + 1 :]]
        frame = _Frame(ctx, header, cols, body)
        t = ibis.memtable(frame.build())
        consts = {"platform": "meta", "level": frame.levels[0][0]}
        if isinstance(frame.currency, str):
            consts["currency"] = frame.currency
        return {"ad_performance": t.mutate(**{k: ibis.literal(v) for k, v in consts.items()})}

    def write(self, frames: dict[str, Any], path: Path, **options: Any) -> Path:
        """Render canonical ``ad_performance`` rows as an Ads Manager export (CSV or XLSX by
        suffix), one day per row, currency in the headers."""
        return _write(frames["ad_performance"], Path(path), **options)


class _Frame:
    """One export, its columns resolved once; :meth:`build` turns rows into canonical values."""

    def __init__(
        self, ctx: ReadContext, header: list[str], cols: dict[str, str], body: list[tuple]
    ) -> None:
        self.ctx, self.header, self.cols, self.body = ctx, header, cols, body
        found = ", ".join(header)[:400]
        unsupported = [cols[k] for k in UNSUPPORTED if k in cols]
        if unsupported:
            raise ctx.fail(
                f"has the breakdown {unsupported[0]!r}, which splits a day's delivery into rows "
                "SpendLab cannot tell apart",
                "export again without it: keep Breakdown > By time > Day and, if wanted, "
                "Country or Impression device",
                column=unsupported[0],
            )
        self.levels = [(lv, cols.get(i), cols.get(n)) for lv, i, n in LEVELS if {i, n} & set(cols)]
        if not self.levels:
            raise ctx.fail(
                f"has no Campaign, Ad set, Ad or Account column (columns found: {found})",
                "choose a level in Ads Manager (Campaigns, Ad sets or Ads tab) and keep its name "
                "column, ideally with Customize columns > Campaign ID / Ad set ID / Ad ID",
            )
        self.day = cols.get("day") or cols.get("date")
        self.start, self.end = cols.get("reporting starts"), cols.get("reporting ends")
        if not (self.day or self.start):
            raise ctx.fail(
                f"has no 'Reporting starts' or 'Day' column (columns found: {found})",
                "in Ads Manager add Breakdown > By time > Day before exporting",
                column="Reporting starts",
            )
        text = {c for _, i, n in self.levels for c in (i, n) if c}
        text |= {cols[k] for k in _TEXT if k in cols}
        self.decimal = self._decimal(text)
        self.currency = self._currency()
        event = str(ctx.options.get("conversion_event") or "Purchases").strip()
        self.conv = self._action(_key(event))
        self.value = self._action(_key(event) + " conversion value")
        self.results = None
        if not any(self.conv):
            ind = cols.get("result indicator") or cols.get("result type")
            if "results" in cols and ind:
                self.results = (cols["results"], ind, _result_keys(_key(event)))
            elif ctx.options.get("conversion_event"):
                raise ctx.fail(
                    f"has no column for the conversion event {event!r} (looked for {event!r}, "
                    f"'Website {event.lower()}', ... and Results with a result indicator; "
                    f"columns found: {found})",
                    "add the action's column in Ads Manager (Columns > Customize columns), or "
                    "name an exported one with --option conversion_event=...",
                )
        clicks = cols.get("link clicks") or cols.get("clicks (all)")
        self.metrics = {"impressions": cols.get("impressions"), "clicks": clicks}
        self.metrics["spend"] = cols.get("amount spent")
        used = {c for c in self.metrics.values() if c}
        for total, parts in (self.conv, self.value):
            used |= {total} if total else set(parts)
        used |= {self.results[0]} if self.results else set()
        self.extras = [h for h in header if h not in used | text and self._numeric(h)]

    def _action(self, base: str) -> tuple[str | None, list[str]]:
        """The total column of an action and its parts (website, in-app, offline, on-Meta)."""
        parts = [self.cols[f"{p} {base}"] for p in PARTS if f"{p} {base}" in self.cols]
        return self.cols.get(base), parts

    def _decimal(self, text: set[str]) -> str:
        """The decimal mark: the option, else what the numbers in non-text columns imply."""
        opt = self.ctx.options.get("decimal")
        if opt:
            if str(opt) not in (".", ","):
                raise self.ctx.fail(f"option decimal={opt!r} is not . or ,", "pass decimal=,")
            return str(opt)
        votes = {".": 0, ",": 0}
        for _, r in self.body:
            for h, v in r.items():
                d = _vote(v) if isinstance(v, str) and h not in text else None
                if d:
                    votes[d] += 1
        if votes["."] and votes[","]:
            raise self.ctx.fail(
                "mixes number formats (some values use ',' as the decimal separator, some '.')",
                "pass --option decimal=, (or decimal=.) to say which this export uses",
            )
        return "," if votes[","] else "."

    def _currency(self) -> str | tuple[str]:
        """The currency named in the header; else ``(Currency column,)``; else the option."""
        found = {}
        for h in self.header:
            m = _CURRENCY.search(h)
            if m and m.group(1) in CURRENCIES:
                found.setdefault(m.group(1), h)
        if len(found) > 1:
            a, b = list(found.items())[:2]
            raise self.ctx.fail(
                f"names two currencies in its header: {a[1]!r} and {b[1]!r}",
                "export each ad account separately (each reports in its own currency)",
                column=b[1],
            )
        column = self.cols.get("currency")
        if found:
            return next(iter(found))
        if column:
            return (column,)
        opt = self.ctx.options.get("currency")
        if not opt:
            raise self.ctx.fail(
                "has no currency: no header like 'Amount spent (USD)' and no Currency column",
                "pass --option currency=XXX (the ad account's currency, e.g. USD)",
            )
        return str(opt).strip().upper()

    def _numeric(self, column: str) -> bool:
        seen = False
        for _, r in self.body:
            v = _clean(r.get(column), self.decimal)
            if v is None:
                continue
            if _dec(v) is None:
                return False
            seen = True
        return seen

    def build(self) -> dict[str, list[Any]]:
        ctx, cols = self.ctx, self.cols
        level_cells = [c for _, i, n in self.levels for c in (i, n) if c]
        data = [(n, r) for n, r in self.body if not self._summary(r, level_cells)]
        dmy = _day_first([r.get(c) for _, r in data for c in (self.day, self.start) if c])
        fmt = ctx.options.get("date_format")
        out: dict[str, list[Any]] = {k: [] for k in ("date", ROW)}
        for n, r in data:
            if self.day:
                day = _date(r.get(self.day), fmt, dmy)
            else:
                day = _date(r.get(self.start), fmt, dmy)
                end = _date(r.get(self.end), fmt, dmy) if self.end else day
                if end and day and end != day:
                    raise ctx.fail(
                        f"row covers {day} to {end}, not one day",
                        "in Ads Manager add Breakdown > By time > Day (Time breakdown: Day) "
                        "before exporting, so each row is one day",
                        row=n,
                        column=self.end,
                        value=f"{_s(r.get(self.start))} .. {_s(r.get(self.end))}",
                    )
            out["date"].append(day)
            out[ROW].append(n)
            parent: list[str] = []
            for lv, idc, namec in reversed(self.levels):
                name = _s(r.get(namec)) if namec else ""
                ident = _s(r.get(idc)) if idc else ""
                ident = ident or (name_id(*parent, name) if name else "")
                out.setdefault(f"{lv}_id", []).append(ident or None)
                if namec:
                    out.setdefault(f"{lv}_name", []).append(name or None)
                parent.append(ident or name)
            if "country" in cols:
                c = _s(r.get(cols["country"])).upper()
                out.setdefault("country", []).append("ZZ" if c == "UNKNOWN" else c or None)
            dev = cols.get("impression device") or cols.get("device platform")
            if dev:
                d = re.sub(r"[\s\-]+", "_", _s(r.get(dev)).lower())
                out.setdefault("device", []).append(DEVICES.get(d, "other") if d else None)
            if "objective" in cols:
                o = re.sub(r"^outcome_", "", _s(r.get(cols["objective"])).lower()).replace(" ", "_")
                out.setdefault("objective", []).append(OBJECTIVES.get(o, o) or None)
            for canon, col in self.metrics.items():
                if col:
                    out.setdefault(canon, []).append(_clean(r.get(col), self.decimal))
            for canon, (total, parts) in (
                ("conversions", self.conv),
                ("conversion_value", self.value),
            ):
                if total or parts:
                    out.setdefault(canon, []).append(self._pick(r, total, parts))
            if self.results:
                col, ind, keys = self.results
                hit = any(k in _s(r.get(ind)).lower() for k in keys)
                out.setdefault("conversions", []).append(
                    _clean(r.get(col), self.decimal) if hit else None
                )
            extras = {}
            for h in self.extras:
                v = _clean(r.get(h), self.decimal)
                if v is not None:
                    x = float(v)
                    extras[h] = int(x) if x.is_integer() and abs(x) < 2**53 else x
            out.setdefault("extras", []).append(
                json.dumps(extras, ensure_ascii=False) if extras else None
            )
        if not isinstance(self.currency, str):  # from a Currency column
            out["currency"] = [_s(r.get(self.currency[0])).upper() or None for _, r in data]
        if not self.ctx.row_numbers:
            del out[ROW]
        import pandas as pd

        return pd.DataFrame({k: pd.Series(v, dtype="object") for k, v in out.items()})

    def _summary(self, r: dict[str, Any], level_cells: list[str]) -> bool:
        """Meta's total row (or a blank line): no level name or id, or only its UI label."""
        filled = [v for v in (_s(r.get(c)) for c in level_cells) if v]
        return not filled or (len(filled) == 1 and bool(_SUMMARY.match(filled[0])))

    def _pick(self, r: dict[str, Any], total: str | None, parts: list[str]) -> str | None:
        """The total when the row has it, else the sum of its parts: never total + parts."""
        if total and _clean(r.get(total), self.decimal) is not None:
            return _clean(r.get(total), self.decimal)
        vals = [_clean(r.get(p), self.decimal) for p in parts]
        vals = [v for v in vals if v is not None]
        if not vals:
            return None
        nums = [_dec(v) for v in vals]
        bad = next((v for v, d in zip(vals, nums, strict=True) if d is None), None)
        return bad if bad is not None else str(sum(nums, Decimal(0)))


def _key(header: str) -> str:
    """A header without its currency, lower case: 'Amount spent (USD)' -> 'amount spent'."""
    return re.sub(r"\s+", " ", _CURRENCY.sub("", str(header))).strip().lower()


def _unique(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in header:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h} [{seen[h]}]")
    return out


def _result_keys(event: str) -> tuple[str, ...]:
    return RESULT_KEYS.get(event, (event.rstrip("s").replace(" ", "_"),))


def _s(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _dec(s: str) -> Decimal | None:
    try:
        d = Decimal(s)
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _clean(v: Any, decimal: str) -> str | None:
    """A cell as a plain number string; NULL for blanks and '--'. Non-numbers pass through."""
    if v is None or isinstance(v, bool):
        return None if v is None else str(v)
    if isinstance(v, int | float):
        return None if v != v else repr(v)
    s = re.sub(r"[\s\u00a0\u202f%$€£¥]", "", str(v))
    if s in ("", "--", "-"):
        return None
    s = s.replace("," if decimal == "." else ".", "")
    return s.replace(",", ".") if decimal == "," else s


def _vote(v: str) -> str | None:
    """Which decimal separator a localized number string implies, if it tells."""
    t = re.sub(r"[\s\u00a0\u202f%$€£¥]", "", v)
    if not re.fullmatch(r"[-+]?\d[\d.,]*", t) or not re.search(r"[.,]", t):
        return None
    if "." in t and "," in t:
        return "," if t.rfind(",") > t.rfind(".") else "."
    sep = "." if "." in t else ","
    parts = t.split(sep)
    if len(parts) > 2:
        return "," if sep == "." else "."
    return sep if len(parts[1]) != 3 else None


def _day_first(values: list[Any]) -> bool:
    """Slashed dates: day first when some first part is above 12 (else month first, as en_US)."""
    pairs = [m.groups() for v in values if (m := re.match(r"\s*(\d+)/(\d+)/", _s(v)))]
    return any(int(a) > 12 for a, _ in pairs) and not any(int(b) > 12 for _, b in pairs)


def _date(v: Any, fmt: str | None, day_first: bool) -> str | None:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    s = _s(v)
    if not s:
        return None
    try:
        if fmt:
            return dt.datetime.strptime(s, str(fmt)).date().isoformat()
        if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T][\d:.]*)?", s):
            y, mo, d = m.groups()
        elif m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", s):
            d, mo, y = m.groups()
        elif m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", s):
            d, mo, y = m.groups() if day_first else (m.group(2), m.group(1), m.group(3))
        else:
            return s
        return dt.date(int(y), int(mo), int(d)).isoformat()
    except ValueError:
        return s  # the loader reports it with its row


def _csv_rows(ctx: ReadContext) -> list[tuple[int, list[Any]]]:
    text = decode_text(ctx.path.read_bytes())
    sample = "\n".join(text.splitlines()[:5])
    delim = max((",", ";", "\t"), key=sample.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows, prev = [], 0
    try:
        for rec in reader:
            rows.append((prev + 1, rec))
            prev = reader.line_num
    except csv.Error as e:
        raise ctx.fail(
            f"is not a readable CSV ({e})",
            "export again from Ads Manager (Export table data > .csv) without editing the file",
            row=reader.line_num,
        ) from None
    return rows


def _xlsx_rows(ctx: ReadContext) -> list[tuple[int, list[Any]]]:
    try:
        from openpyxl import load_workbook

        wb = load_workbook(ctx.path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            rows = ws.iter_rows(min_row=1, values_only=True)
            return [(n, [_cell(v) for v in row]) for n, row in enumerate(rows, start=1)]
        finally:
            wb.close()
    except Exception as e:
        raise ctx.fail(
            f"cannot be opened as an Excel workbook ({type(e).__name__}: {str(e)[:200]})",
            "export again from Ads Manager as .xlsx, or as .csv",
        ) from None


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        return int(v)
    return v


# -- writer ----------------------------------------------------------------------------------
def _write(df: Any, path: Path, **options: Any) -> Path:
    import pandas as pd

    df = df.reset_index(drop=True)
    cur = options.get("currency")
    if not cur:
        found = sorted(set(df["currency"].dropna())) if "currency" in df else []
        if len(found) != 1:
            from spendlab.errors import ConfigError

            raise ConfigError(f"one currency per Meta export, found {found}: pass currency=XXX")
        cur = found[0]
    dec = str(options.get("decimal", "."))
    xlsx = path.suffix.lower() == ".xlsx"

    def num(v: Any) -> Any:
        """A number as Ads Manager writes it: plain (numeric cells in XLSX), or localized."""
        if v is None or (isinstance(v, float) and v != v):
            return None if xlsx else ""
        x = int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)
        return x if xlsx else repr(x).replace(".", ",") if dec == "," else repr(x)

    cols: dict[str, Any] = {}
    days = pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d")
    cols["Reporting starts"] = cols["Reporting ends"] = days
    for lv, label in (("account", "Account"), ("campaign", "Campaign"), ("ad_group", "Ad set")):
        for part, suffix in (("name", "name"), ("id", "ID")):
            c = f"{lv}_{part}"
            if c in df and df[c].fillna("").astype(str).ne("").any():
                cols[f"{label} {suffix}"] = df[c].fillna("").astype(str)
    for part, label in (("ad_name", "Ad name"), ("ad_id", "Ad ID")):
        if part in df and df[part].fillna("").astype(str).ne("").any():
            cols[label] = df[part].fillna("").astype(str)
    if "country" in df:
        cols["Country"] = df["country"].fillna("")
    if "device" in df:
        cols["Impression device"] = df["device"].map(WRITE_DEVICES).fillna("")
    if "objective" in df:
        cols["Objective"] = df["objective"].map(lambda o: f"OUTCOME_{o}".upper() if o else "")
    names = {"impressions": "Impressions", "clicks": "Link clicks"}
    names |= {"spend": f"Amount spent ({cur})", "conversions": "Purchases"}
    names["conversion_value"] = f"Purchases conversion value ({cur})"
    for canon, label in names.items():
        if canon in df:
            cols[label] = df[canon].map(num)
    if "extras" in df:
        extra = [json.loads(x) if isinstance(x, str) and x else {} for x in df["extras"]]
        for key in dict.fromkeys(k for e in extra for k in e):
            cols[key] = [num(e.get(key)) for e in extra]
    out = pd.DataFrame(cols)
    if options.get("summary_row"):
        total = {c: "" for c in out.columns}
        total["Reporting starts"], total["Reporting ends"] = days.min(), days.max()
        for canon in ("impressions", "clicks", "spend"):
            if canon in df:
                total[names[canon]] = num(df[canon].sum())
        out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    if xlsx:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        out = out.map(lambda v: ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
        out.to_excel(path, index=False, sheet_name="Raw Data Report")
        _texts_not_formulas(path)
    else:
        out.to_csv(path, index=False, encoding="utf-8")
    return path


def _texts_not_formulas(path: Path) -> None:
    """openpyxl stores any string starting with '=' as a formula (read back empty): names like
    '=Sale' are text in Ads Manager's exports, so mark those cells as text."""
    from openpyxl import load_workbook

    book = load_workbook(path)
    changed = False
    for row in book.active.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
                changed = True
    if changed:
        book.save(path)
