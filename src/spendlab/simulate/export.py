"""Write a simulated market as platform-shaped files, through the readers' own writers.

``write_market(market, out_dir)`` writes the files below (in ingest order), ``truth.json`` and the
truth CSVs, and ``manifest.json``::

    {"version": 1, "seed": 7, "files": [{"file": ..., "source": ..., "options": {...}, "table": ...,
     "rows": ...}, ...], "truth": [...], "fallbacks": [...]}

When a source has no writer yet (``NotImplementedError`` or a missing module), its rows are
written as a canonical CSV read by the ``generic`` source instead, the entry says so
(``"fallback_for"``) and a :class:`UserWarning` is raised: never silently.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from spendlab.core.jsonsafe import jsonable

if TYPE_CHECKING:
    from spendlab.simulate.simulation import Market

MANIFEST_VERSION = 1


def _plan(market: Market) -> list[tuple[str, str, dict[str, pd.DataFrame], dict[str, Any]]]:
    """(file, source, frames, options) in ingest order; empty parts are skipped."""
    f = market.frames
    ap = f["ad_performance"]
    google = ap["platform"] == "google_ads"
    display = ap["level"] == "campaign"
    ga4 = {"touchpoints": f["touchpoints"], "conversions": f["conversions"]}
    parts = [
        ("google_ads_keywords.csv", "google_ads_ui", {"ad_performance": ap[google & ~display]}, {}),
        ("google_ads_campaigns.csv", "google_ads_ui", {"ad_performance": ap[google & display]}, {}),
        ("meta_ads.csv", "meta", {"ad_performance": ap[ap["platform"] == "meta"]}, {}),
        ("microsoft_ads.csv", "microsoft", {"ad_performance": ap[ap["platform"] == "microsoft"]},
         {}),
        ("ga4_events.jsonl", "ga4", ga4, {}),
        ("crm_orders.csv", "crm_orders", {"orders": f["orders"]}, {}),
        ("customers.csv", "generic", {"customers": f["customers"]}, {"table": "customers"}),
        ("outcomes.csv", "generic", {"outcomes": f["outcomes"]}, {"table": "outcomes"}),
        ("controls.csv", "generic", {"controls": f["controls"]}, {"table": "controls"}),
        ("entities.csv", "generic", {"entities": f["entities"]}, {"table": "entities"}),
    ]  # fmt: skip
    return [
        (file, source, {k: v.reset_index(drop=True) for k, v in frames.items()}, opts)
        for file, source, frames, opts in parts
        if any(len(v) for v in frames.values())
    ]


def crm_customer_ids(ids: pd.Series) -> pd.Series:
    """The customer ids the warehouse stores for orders written by the ``crm_orders`` writer:
    it writes e-mails ``customer_<id>@example.com`` and the reader pseudonymises e-mails."""
    from spendlab.data.sources.crm import pseudonymize

    return ids.map(lambda c: pseudonymize(f"customer_{c}@example.com"))


def write_canonical_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A canonical table as a plain CSV (ISO dates and timestamps, empty strings kept)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            is_date = (out[col].dt.normalize() == out[col]).all() and col == "date"
            fmt = "%Y-%m-%d" if is_date else "%Y-%m-%d %H:%M:%S"
            out[col] = out[col].dt.strftime(fmt)
    out.to_csv(path, index=False)
    return path


def _write_one(
    source: str, frames: dict[str, pd.DataFrame], path: Path, options: dict[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    """Write through the source's writer; on a missing writer fall back to generic CSVs."""
    from spendlab.data.sources import get_source

    try:
        writer = get_source(source)
    except (ModuleNotFoundError, AttributeError) as exc:  # reader module not written yet
        reason = f"{type(exc).__name__}: {exc}"
    else:
        try:
            writer.write(frames, path, **options)
            return [{"file": path.name, "source": source, "options": options}], None
        except NotImplementedError as exc:
            reason = f"{type(exc).__name__}: {exc}"
    entries = []
    for table, df in frames.items():
        target = path if len(frames) == 1 else path.with_name(f"{path.stem}_{table}.csv")
        target = target.with_suffix(".csv")
        write_canonical_csv(df, target)
        entries.append(
            {"file": target.name, "source": "generic", "options": {"table": table},
             "fallback_for": source}
        )  # fmt: skip
    warnings.warn(
        f"TODO: source {source!r} has no writer yet ({reason}); wrote "
        f"{', '.join(e['file'] for e in entries)} as generic canonical CSV instead",
        UserWarning,
        stacklevel=3,
    )
    return entries, reason


def write_truth(market: Market, out: Path, crm_native: bool = True) -> list[str]:
    """truth.json, truth_daily.csv, truth_campaign_daily.csv, truth_customers.csv (with
    ``stored_customer_id``, the id the warehouse holds), experiments.csv."""
    (out / "truth.json").write_text(json.dumps(market.truth, indent=1, allow_nan=False))
    write_canonical_csv(market.components(), out / "truth_daily.csv")
    write_canonical_csv(market.campaign_daily(), out / "truth_campaign_daily.csv")
    tc = market.crm.truth_customers.copy()
    ids = tc["customer_id"]
    tc.insert(1, "stored_customer_id", crm_customer_ids(ids) if crm_native else ids)
    tc.to_csv(out / "truth_customers.csv", index=False)
    cols = ["experiment_id", "kind", "channel", "start", "end", "kpi", "geos",
            "measured_incremental", "standard_error", "true_incremental", "incremental_spend",
            "true_iroas", "true_relative_lift"]  # fmt: skip
    exp = pd.DataFrame(
        [{k: e.get(k) for k in cols} for e in market.truth["experiments"]], columns=cols
    )
    exp["geos"] = exp["geos"].map(lambda g: ";".join(g or []))
    exp.to_csv(out / "experiments.csv", index=False)
    return ["truth.json", "truth_daily.csv", "truth_campaign_daily.csv", "truth_customers.csv",
            "experiments.csv"]  # fmt: skip


def write_market(market: Market, out_dir: str | Path) -> dict[str, Any]:
    """Write every file of the market into ``out_dir`` and return the manifest (also written as
    ``manifest.json``). Ingest the ``files`` in order: ``spendlab ingest FILE --source SOURCE``
    with each entry's options."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    fallbacks = []
    crm_native = True
    for file, source, frames, options in _plan(market):
        if file == "customers.csv" and crm_native:  # same ids as the orders' customers
            frames = {"customers": frames["customers"].assign(
                customer_id=crm_customer_ids(frames["customers"]["customer_id"]))}  # fmt: skip
        entries, reason = _write_one(source, frames, out / file, options)
        if source == "crm_orders":
            crm_native = reason is None
        for e, (table, df) in zip(entries, frames.items(), strict=False):
            e["tables"] = (
                {t: len(d) for t, d in frames.items()} if len(entries) == 1 else {table: len(df)}
            )
        files.extend(entries)
        if reason:
            fallbacks.append({"source": source, "reason": reason})
    manifest = {
        "version": MANIFEST_VERSION,
        "seed": market.config.seed,
        "currency": market.config.currency,
        "period": market.truth["period"],
        "files": files,
        "truth": write_truth(market, out, crm_native),
        "fallbacks": fallbacks,
    }
    (out / "manifest.json").write_text(json.dumps(jsonable(manifest), indent=1))
    return manifest
