"""Google Ads API reports: the flattened rows of a GAQL query (search stream) as CSV or Parquet.

Columns are named by field path, as the API returns them (``segments.date``, ``campaign.id``,
``metrics.cost_micros``), or with ``_`` instead of ``.`` as the BigQuery Data Transfer names them
(``segments_date``, ``metrics_cost_micros``). This is the streaming path for large exports: the
file is scanned by the warehouse backend, never loaded into Python.

Other ``metrics.*`` columns (``metrics.all_conversions``, ``metrics.search_impression_share``)
are kept in ``extras`` as a JSON object of numbers keyed by the field name without its
``metrics.`` prefix; other unknown columns are ignored.

Options: ``currency`` (when the report has no ``customer.currency_code`` column),
``platform`` (default ``google_ads``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from spendlab.data.sources.base import (
    ROW,
    SOURCE_TEXT,
    ReadContext,
    Source,
    add_row_numbers,
)

#: canonical column -> GAQL field path
FIELDS: dict[str, str] = {
    "date": "segments.date",
    "account_id": "customer.id",
    "account_name": "customer.descriptive_name",
    "currency": "customer.currency_code",
    "campaign_id": "campaign.id",
    "campaign_name": "campaign.name",
    "objective": "campaign.advertising_channel_type",
    "ad_group_id": "ad_group.id",
    "ad_group_name": "ad_group.name",
    "keyword_id": "ad_group_criterion.criterion_id",
    "keyword_text": "ad_group_criterion.keyword.text",
    "match_type": "ad_group_criterion.keyword.match_type",
    "ad_id": "ad_group_ad.ad.id",
    "ad_name": "ad_group_ad.ad.name",
    "device": "segments.device",
    "impressions": "metrics.impressions",
    "clicks": "metrics.clicks",
    "spend": "metrics.cost_micros",
    "conversions": "metrics.conversions",
    "conversion_value": "metrics.conversions_value",
}
DEVICES = {
    "DESKTOP": "desktop",
    "MOBILE": "mobile",
    "TABLET": "tablet",
    "CONNECTED_TV": "tv",
    "OTHER": "other",
    "UNKNOWN": "other",
    "UNSPECIFIED": "other",
}
MATCH_TYPES = {"EXACT": "exact", "PHRASE": "phrase", "BROAD": "broad"}
#: finest level first: the level of a row is the finest id column the report has
LEVELS = (
    ("keyword_id", "keyword"),
    ("ad_id", "ad"),
    ("ad_group_id", "ad_group"),
    ("campaign_id", "campaign"),
    ("account_id", "account"),
)


class GoogleAdsAPI(Source):
    name: ClassVar[str] = "google_ads_api"
    description: ClassVar[str] = "Google Ads API report rows (GAQL field names), CSV or Parquet"
    tables: ClassVar[tuple[str, ...]] = ("ad_performance",)
    suffixes: ClassVar[tuple[str, ...]] = (".csv", ".parquet")

    def read(self, ctx: ReadContext) -> dict[str, ir.Table]:
        head = self.check_file(ctx)
        parquet = ctx.path.suffix.lower() == ".parquet"
        try:
            if parquet:
                t = ctx.con.read_parquet(str(ctx.path))
            else:
                first = head.decode("utf-8-sig", errors="replace").split("\n", 1)[0]
                first = first.rstrip("\r")
                delim = next((d for d in ",\t;|" if d in first), ",")
                names = next(csv.reader([first], delimiter=delim), [])
                t = scan_csv(ctx, names, skip=1, delim=delim)
        except Exception as e:  # the backend reads the Parquet footer right away
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise ctx.fail(
                f"cannot be read as {'Parquet' if parquet else 'CSV'}: {msg}",
                "write the report again (one header line of GAQL field names, then one line "
                "per row), or check the file is complete",
            ) from None
        first_line = 1 if parquet else 2
        if ctx.row_numbers:
            t = add_row_numbers(t, first_line)
        cols = _resolve(ctx, t)
        out: dict[str, Any] = {}
        for canon, src in cols.items():
            out[canon] = t[src].cast("string") if canon not in ("spend",) else t[src]
        if "spend" in cols:  # micros -> units, typed; the source text backs error reports
            src = t[cols["spend"]].cast("string")
            out["spend"] = src.try_cast("int64").cast("float64") / 1_000_000
            out[SOURCE_TEXT + "spend"] = src
        if "device" in cols:
            out["device"] = out["device"].substitute(DEVICES, else_=out["device"].lower())
        if "match_type" in cols:
            out["match_type"] = out["match_type"].substitute(
                MATCH_TYPES, else_=out["match_type"].lower()
            )
        if "objective" in cols:
            out["objective"] = out["objective"].lower()
        if "currency" not in cols:
            cur = ctx.options.get("currency")
            if not cur:
                raise ctx.fail(
                    "has no customer.currency_code column",
                    "add customer.currency_code to the GAQL query, or pass --option currency=USD",
                )
            out["currency"] = ibis.literal(str(cur).upper())
        out["platform"] = ibis.literal(str(ctx.options.get("platform", "google_ads")))
        level = next(lvl for col, lvl in LEVELS if col in cols)
        out["level"] = ibis.literal(level)
        extras = _extra_metrics(t, cols)
        if extras:  # one struct -> JSON cast per row, inside the scan
            values = {k: t[c].cast("string").try_cast("float64") for k, c in extras.items()}
            out["extras"] = ibis.struct(values).cast("json")
        if ctx.row_numbers:
            out[ROW] = t[ROW]
        return {"ad_performance": t.select(**out)}

    def write(self, frames: dict[str, Any], path: Path, **options: Any) -> Path:
        """Write canonical ``ad_performance`` rows as a GAQL-named CSV (cost in micros)."""
        df = frames["ad_performance"].copy()
        out = {}
        for canon, field in FIELDS.items():
            if canon not in df.columns:
                continue
            col = df[canon]
            if canon == "spend":
                col = (col.astype(float) * 1_000_000).round().astype("int64")
            elif canon == "date":
                col = col.astype(str).str.slice(0, 10)
            elif canon == "device":
                col = col.map(
                    {v: k for k, v in DEVICES.items() if k not in ("UNKNOWN", "UNSPECIFIED")}
                ).fillna("UNSPECIFIED")
            elif canon == "match_type":
                col = col.str.upper()
            out[field] = col
        import pandas as pd

        pd.DataFrame(out).to_csv(path, index=False)
        return Path(path)


def scan_csv(
    ctx: ReadContext,
    names: list[str],
    *,
    skip: int,
    delim: str = ",",
    encoding: str = "utf-8",
    **options: Any,
) -> ir.Table:
    """Scan a CSV as text columns named ``names`` (the header the reader parsed itself), its
    first ``skip`` lines skipped. No dialect sniffing: a malformed line fails the scan with its
    real line number (DuckDB's sniffer would guess a wrong dialect from it, or fail without one).
    """
    unique: list[str] = []
    for i, n in enumerate(names):
        base = n.strip() or f"column{i + 1}"
        name, k = base, 1
        while name in unique:
            k += 1
            name = f"{base}_{k}"
        unique.append(name)
    return ctx.con.read_csv(
        str(ctx.path),
        auto_detect=False,
        header=False,
        columns=dict.fromkeys(unique, "VARCHAR"),
        skip=skip,
        delim=delim,
        quote='"',
        escape='"',
        encoding=encoding,
        **options,
    )


def _extra_metrics(t: ir.Table, cols: dict[str, str]) -> dict[str, str]:
    """Unknown ``metrics.*`` (or ``metrics_*``) columns: {key without the prefix: column}."""
    used = set(cols.values())
    out = {}
    for c in t.columns:
        low = c.lower()
        if c not in used and low.startswith(("metrics.", "metrics_")):
            out[c[len("metrics.") :]] = c
    return out


def _resolve(ctx: ReadContext, t: ir.Table) -> dict[str, str]:
    """Map canonical columns to the file's columns (dotted or underscored field paths)."""
    by_norm = {c.replace("_", ".").lower(): c for c in t.columns if c != ROW}
    by_exact = {c.lower(): c for c in t.columns}
    cols: dict[str, str] = {}
    for canon, field in FIELDS.items():
        src = by_exact.get(field) or by_norm.get(field.replace("_", "."))
        if src is not None:
            cols[canon] = src
    if "date" not in cols:
        found = ", ".join(c for c in t.columns if c != ROW)[:300]
        raise ctx.fail(
            "has no segments.date column",
            "add segments.date to the GAQL query's SELECT (daily rows are required); "
            f"columns found: {found}",
            column="segments.date",
        )
    if not any(c in cols for c, _ in LEVELS):
        raise ctx.fail(
            "has no id column (customer.id, campaign.id, ad_group.id, "
            "ad_group_criterion.criterion_id or ad_group_ad.ad.id)",
            "select the ids of the level you report on, e.g. campaign.id",
        )
    return cols
