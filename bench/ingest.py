"""Ingest benchmark: SpendLab's validated, idempotent load of a 10M-row platform export versus
DuckDB's own plain ``read_csv`` of the same file, side by side in one run.

The file is a Google Ads API keyword report (search-stream CSV with dotted field names), 90 days x
~111k keywords. SpendLab's load = reader + cast + every schema check + duplicate-key check +
currency handling + idempotent upsert in one transaction. Measured:

- first load into an empty workspace;
- the same file again (idempotent: nothing added, nothing rewritten);
- a corrected file (1% of rows changed: replaced in place).

Target (issue 2): validation and idempotent upsert cost at most 2x DuckDB's plain read.

    python bench/ingest.py [--rows 10000000] [--out bench/out]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from spendlab.data.ingest import ingest_file
from spendlab.data.warehouse import Warehouse

KEYWORDS_PER_DAY_DEFAULT = 90


def make_export(path: Path, rows: int, *, corrected: bool = False) -> None:
    """Write a Google Ads API keyword report with ``rows`` rows (deterministic)."""
    days = KEYWORDS_PER_DAY_DEFAULT
    per_day = -(-rows // days)
    bump = "CASE WHEN kw % 100 = 7 THEN 1.5 ELSE 1.0 END" if corrected else "1.0"
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    # Built from constants only: no user input reaches this statement.
    con.execute(f"""
        COPY (
          SELECT
            strftime(DATE '2024-01-01' + d::INTEGER, '%Y-%m-%d') AS "segments.date",
            '1234567890' AS "customer.id",
            'Acme Store' AS "customer.descriptive_name",
            'USD' AS "customer.currency_code",
            (1000 + kw // 400)::VARCHAR AS "campaign.id",
            'Campaign ' || (kw // 400)::VARCHAR AS "campaign.name",
            (100000 + kw // 20)::VARCHAR AS "ad_group.id",
            'Ad group ' || (kw // 20)::VARCHAR AS "ad_group.name",
            (5000000 + kw)::VARCHAR AS "ad_group_criterion.criterion_id",
            'keyword ' || kw::VARCHAR AS "ad_group_criterion.keyword.text",
            ['EXACT', 'PHRASE', 'BROAD'][1 + kw % 3] AS "ad_group_criterion.keyword.match_type",
            (hash(kw, d) % 5000)::BIGINT AS "metrics.impressions",
            (hash(kw, d) % 200)::BIGINT AS "metrics.clicks",
            ((hash(d, kw) % 90000000) * {bump})::BIGINT AS "metrics.cost_micros",
            round((hash(kw * 7, d) % 1000) / 100.0, 2) AS "metrics.conversions",
            round((hash(kw * 13, d) % 100000) / 10.0, 2) AS "metrics.conversions_value"
          FROM range({days}) AS a(d), range({per_day}) AS b(kw)
          LIMIT {rows}
        ) TO '{path}' (HEADER, DELIMITER ',')
    """)  # noqa: S608
    con.close()


def duckdb_plain_read(path: Path, db: Path) -> float:
    con = duckdb.connect(str(db))
    con.execute("SET enable_progress_bar = false")
    con.execute("SET threads = 2")
    t0 = time.perf_counter()
    con.execute("CREATE TABLE raw AS SELECT * FROM read_csv(?)", [str(path)])
    seconds = time.perf_counter() - t0
    con.close()
    return seconds


def spendlab_load(wh: Warehouse, path: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    report = ingest_file(wh, path, "google_ads_api")
    return time.perf_counter() - t0, report.to_dict()["rows"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="spendlab-bench-"))
    try:
        export, fixed = tmp / "keywords.csv", tmp / "keywords_corrected.csv"
        t0 = time.perf_counter()
        make_export(export, args.rows)
        make_export(fixed, args.rows, corrected=True)
        size = export.stat().st_size / 1024**2
        print(
            f"generated 2 x {args.rows:,} rows ({size:,.0f} MB each) "
            f"in {time.perf_counter() - t0:.1f} s"
        )

        peer = duckdb_plain_read(export, tmp / "plain.duckdb")
        with Warehouse.init(tmp / "ws") as wh:
            first, r1 = spendlab_load(wh, export)
            again, r2 = spendlab_load(wh, export)
            corrected, r3 = spendlab_load(wh, fixed)
        rows = [
            ("DuckDB plain `CREATE TABLE AS read_csv` (peer)", peer, "-"),
            ("SpendLab first load (validate + upsert)", first, f"{r1['added']:,} added"),
            (
                "SpendLab same file again (idempotent)",
                again,
                f"{r2['added']:,} added, {r2['unchanged']:,} unchanged",
            ),
            (
                "SpendLab corrected file (1% changed)",
                corrected,
                f"{r3['replaced']:,} replaced, {r3['unchanged']:,} unchanged",
            ),
        ]
        lines = [
            f"Ingest of a {args.rows:,}-row Google Ads API keyword report ({size:,.0f} MB CSV), "
            "2 cores:",
            "",
            "| run | seconds | x DuckDB plain read | rows |",
            "|---|---:|---:|---|",
            *[f"| {name} | {s:.1f} | {s / peer:.2f}x | {note} |" for name, s, note in rows],
        ]
        table = "\n".join(lines)
        print(table)
        (args.out / "ingest.md").write_text(table + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
