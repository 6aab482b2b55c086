"""Bulk files the user uploads: Google Ads Editor CSV, Microsoft Advertising bulk CSV, Meta bulk
sheet. One file pair per (platform, account): ``<format>_<account>_changes.csv`` with the ABSOLUTE
new values (never percentages: importing it twice sets the same values twice, nothing compounds)
and ``<format>_<account>_undo.csv`` with the old values, rows in reverse order so that several
changes to one entity undo to the first old value. ``manifest.json`` lists the files.

Amounts are written at the platform's precision (2 decimals, 0 for zero-decimal currencies),
rounded toward the old value (see :mod:`spendlab.automate.connectors.base`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spendlab.automate.connectors.base import (
    Change,
    Directory,
    EntityInfo,
    ExecutionResult,
    ResultStatus,
    change_of,
    for_account,
    parent_ref,
)
from spendlab.automate.connectors.bulk_formats import FORMATS, BulkFormat
from spendlab.automate.connectors.csvsafe import read_csv, write_csv
from spendlab.core.actions import Action
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError, DataError, Issue, SourceFormatError

MANIFEST = "manifest.json"


def get_format(name: str) -> BulkFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ConfigError(
            f"unknown bulk format {name!r}; use one of {', '.join(sorted(FORMATS))}"
        ) from None


@dataclass(frozen=True)
class BulkFile:
    """One written file pair."""

    format: str
    platform: str
    account_id: str
    changes: Path
    undo: Path
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "platform": self.platform,
            "account_id": self.account_id,
            "changes": self.changes.name,
            "undo": self.undo.name,
            "rows": self.rows,
        }


@dataclass
class BulkExport:
    """What :func:`export_bulk` wrote and what it left out (``results``: one per action)."""

    files: list[BulkFile] = field(default_factory=list)
    results: list[ExecutionResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [f.to_dict() for f in self.files],
            "exported": sum(r.status is ResultStatus.EXPORTED for r in self.results),
            "skipped": [r.to_dict() for r in self.results if r.status is ResultStatus.SKIPPED],
            "warnings": self.warnings,
        }


def _names(action: Action, directory: Directory | None) -> dict[str, str]:
    """Names of the entity and its parents (and the keyword's match type) from ``directory``."""
    if not directory:
        return {}
    ref = action.entity
    lv = Level(ref.level)
    c, ag = Level.CAMPAIGN, Level.AD_GROUP
    chain = {c: [c], ag: [c, ag], Level.KEYWORD: [c, ag, lv], Level.AD: [c, ag, lv]}[lv]
    out: dict[str, str] = {}
    for p in chain:
        info = directory.get(ref.key() if p is lv else parent_ref(ref, p).key()) or EntityInfo()
        out[p.value] = info.name
        if p is Level.KEYWORD:
            out["match_type"] = info.match_type
    return out


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", s) or "account"


def export_bulk(
    actions: Sequence[Action],
    out_dir: Path,
    fmt: str,
    *,
    directory: Directory | None = None,
    currency: str = "USD",
) -> BulkExport:
    """Write the change and undo files of ``actions`` for format ``fmt`` into ``out_dir``.

    Actions of another platform, or of a kind/level the format cannot carry, are SKIPPED with a
    reason; the others are EXPORTED. ``directory`` (from the ``entities`` table, see
    :func:`~spendlab.automate.connectors.base.directory_from_entities`) supplies names, which
    Google Ads Editor needs to match rows, and each entity's account currency: amounts are
    converted from the workspace currency (amount / fx_rate) and written at that currency's
    precision. Without it, amounts are written as given at ``currency``'s precision.
    """
    spec = get_format(fmt)
    out = BulkExport()
    groups: dict[str, list[tuple[Change, Change]]] = {}
    unnamed = 0
    for a in actions:
        conn = f"bulk:{spec.name}"
        if a.entity.platform != spec.platform:
            out.results.append(
                ExecutionResult(
                    a,
                    ResultStatus.SKIPPED,
                    f"platform {a.entity.platform!r} is not {spec.platform!r} ({spec.name})",
                    conn,
                )
            )
            continue
        if not spec.supports(a.entity.level, a.kind):
            out.results.append(
                ExecutionResult(
                    a,
                    ResultStatus.SKIPPED,
                    f"{spec.name} files do not carry {a.kind.value} at level "
                    f"{Level(a.entity.level).value}",
                    conn,
                )
            )
            continue
        acc, decimals = for_account(a, directory, currency)
        try:
            fwd = change_of(acc, decimals=decimals)
            back = change_of(acc, decimals=decimals, undo=True)
        except DataError as e:
            out.results.append(ExecutionResult(a, ResultStatus.SKIPPED, str(e), conn))
            continue
        names = _names(a, directory)
        fwd = Change(fwd.entity, fwd.kind, fwd.value, names)
        back = Change(back.entity, back.kind, back.value, names)
        try:
            spec.row(fwd)  # ids the format cannot address are skipped, not half-written
        except DataError as e:
            out.results.append(ExecutionResult(a, ResultStatus.SKIPPED, str(e), conn))
            continue
        if not any(names.values()):
            unnamed += 1
        groups.setdefault(a.entity.account_id, []).append((fwd, back))
        row_no = len(groups[a.entity.account_id]) + 1 + len(spec.preamble())
        out.results.append(
            ExecutionResult(
                a,
                ResultStatus.EXPORTED,
                "written to the bulk file; upload it to apply",
                conn,
                platform_ref=f"{spec.name}_{_safe(a.entity.account_id)}_changes.csv:{row_no}",
                applied_value=fwd.value,
            )
        )
    if unnamed and spec.name == "google_ads_editor":
        out.warnings.append(
            f"{unnamed} rows have no names: Google Ads Editor matches rows by campaign, ad group "
            "and keyword names; pass the entities table (directory) to fill them"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for account, pairs in sorted(groups.items()):
        stem = f"{spec.name}_{_safe(account)}"
        ch, un = out_dir / f"{stem}_changes.csv", out_dir / f"{stem}_undo.csv"
        n = write_csv(ch, spec.columns, [*spec.preamble(), *(spec.row(f) for f, _ in pairs)])
        write_csv(un, spec.columns, [*spec.preamble(), *(spec.row(b) for _, b in reversed(pairs))])
        out.files.append(
            BulkFile(spec.name, spec.platform, account, ch, un, n - len(spec.preamble()))
        )
    manifest = out_dir / MANIFEST
    previous = json.loads(manifest.read_text()) if manifest.exists() else {"files": []}
    mine = {f.changes.name for f in out.files}
    kept = [f for f in previous.get("files", []) if f.get("changes") not in mine]
    manifest.write_text(
        json.dumps({"files": kept + [f.to_dict() for f in out.files]}, indent=2), encoding="utf-8"
    )
    return out


def parse_bulk(
    path: Path, fmt: str, *, platform: str | None = None, account_id: str
) -> list[Change]:
    """Read a change or undo file back into :class:`Change` objects, in file order."""
    spec = get_format(fmt)
    header, rows = read_csv(path)
    idx = spec.header_index(header, str(path))
    out: list[Change] = []
    for line, rec in rows:
        if not any(c.strip() for c in rec):
            continue
        if len(rec) != len(header):
            raise SourceFormatError(
                Issue(
                    problem=f"row has {len(rec)} cells, the header has {len(header)}",
                    fix="re-export the file; do not edit it in a tool that drops quoting",
                    file=str(path),
                    row=line,
                )
            )
        cells = {c: rec[i] for c, i in idx.items()}
        ch = spec.parse(
            cells,
            platform=platform or spec.platform,
            account_id=account_id,
            line=line,
            file=str(path),
        )
        if ch is not None:
            out.append(ch)
    return out


def read_export(out_dir: Path, *, undo: bool = False) -> list[Change]:
    """Every change (or undo change) of the files listed in ``out_dir/manifest.json``."""
    manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    out: list[Change] = []
    for f in manifest["files"]:
        out += parse_bulk(
            out_dir / (f["undo"] if undo else f["changes"]),
            f["format"],
            platform=f["platform"],
            account_id=f["account_id"],
        )
    return out


class BulkFileConnector:
    """The bulk-file :class:`~spendlab.automate.connectors.base.Connector`: ``execute`` writes
    the files and returns EXPORTED (or SKIPPED) results; the user uploads them."""

    def __init__(
        self,
        fmt: str,
        out_dir: Path,
        *,
        directory: Directory | None = None,
        currency: str = "USD",
    ) -> None:
        self.spec = get_format(fmt)
        self.name = f"bulk:{self.spec.name}"
        self.out_dir = Path(out_dir)
        self.directory = directory
        self.currency = currency
        self.last_export: BulkExport | None = None

    def export(self, actions: Sequence[Action]) -> BulkExport:
        self.last_export = export_bulk(
            actions,
            self.out_dir,
            self.spec.name,
            directory=self.directory,
            currency=self.currency,
        )
        return self.last_export

    def execute(self, actions: Sequence[Action]) -> list[ExecutionResult]:
        return self.export(actions).results
