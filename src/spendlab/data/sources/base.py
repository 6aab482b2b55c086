"""The contract every reader implements, and helpers they share.

A reader turns one file into *staged* Ibis tables, one per canonical table it fills, with columns
named as in :mod:`spendlab.data.schema`. Values may still be strings: the loader casts them with
``try_cast`` and reports every value that does not convert, with its row. Readers that scan with the
warehouse backend (``ctx.con``) stay fast on 10M-row files; readers of small, messy formats may
parse in pandas and hand back ``ibis.memtable(frame)``.

Row numbers: when ``ctx.row_numbers`` is true the staged tables must carry ``_row``, the 1-based
line number in the file (header = line 1) of the row's source line (for nested sources such as GA4
JSON lines, the line of the record). The loader asks for row numbers only when it has found a
problem to report, because numbering rows costs a second pass on large CSVs.

Structural problems (missing required header, file not in this format) raise
:class:`~spendlab.errors.SourceFormatError` with an :class:`~spendlab.errors.Issue` that names the
file, the row/column where known, and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from spendlab.errors import Issue, SourceFormatError

ROW = "_row"
#: Prefix of a column holding the source text of a column the reader already converted (e.g.
#: ``spend`` from ``cost_micros``): ``_src_spend``. A non-empty source cell whose converted value
#: is NULL is reported as "not a valid number" with its row, as for string columns.
SOURCE_TEXT = "_src_"
#: Bytes read to sniff a file's kind (binary, encoding, delimiter).
SNIFF_BYTES = 64 * 1024


@dataclass
class ReadContext:
    """Everything a reader may use. ``options`` are reader-specific (documented per reader)."""

    con: BaseBackend
    path: Path
    options: dict[str, Any] = field(default_factory=dict)
    row_numbers: bool = False
    max_in_memory_bytes: int = 512 * 1024**2

    @property
    def file(self) -> str:
        return self.path.name

    def fail(
        self,
        problem: str,
        fix: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> SourceFormatError:
        """An error to ``raise``, located in this file."""
        return SourceFormatError(
            Issue(problem=problem, fix=fix, file=self.file, row=row, column=column, value=value)
        )


class Source:
    """Base class of readers. Subclasses set the class attributes and implement :meth:`read`."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: canonical tables this source fills
    tables: ClassVar[tuple[str, ...]]
    #: file suffixes accepted (lower case, with the dot)
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)
    #: True when the reader parses the whole file in memory (then ctx.max_in_memory_bytes applies)
    in_memory: ClassVar[bool] = False

    def read(self, ctx: ReadContext) -> dict[str, ir.Table]:
        """Stage the file: ``{canonical table name: Ibis table}``."""
        raise NotImplementedError

    def write(self, frames: dict[str, Any], path: Path, **options: Any) -> Path:
        """Render canonical rows (``{table: pandas.DataFrame}``) in this source's file format.

        The simulator writes its platform files through this, and round-trip tests check that
        ``read(write(x)) == x``. Returns the path written.
        """
        raise NotImplementedError(f"source {self.name!r} has no writer")

    # -- shared checks ---------------------------------------------------------------------------
    def check_file(self, ctx: ReadContext) -> bytes:
        """Reject missing, empty, binary, wrong-kind or (for in-memory readers) too-large files.

        Returns the first bytes of the file for sniffing.
        """
        path = ctx.path
        if not path.exists():
            raise ctx.fail("file not found", f"check the path {str(path)!r}")
        if path.is_dir():
            raise ctx.fail("is a folder, not a file", "pass a file inside it")
        size = path.stat().st_size
        if size == 0:
            raise ctx.fail("file is empty (0 bytes)", "export the report again; it has no data")
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            raise ctx.fail(
                f"has suffix {path.suffix or '(none)'!r}, but source {self.name!r} reads "
                f"{', '.join(self.suffixes)} files",
                f"export as {self.suffixes[0]} or choose the matching --source",
            )
        if self.in_memory and size > ctx.max_in_memory_bytes:
            raise ctx.fail(
                f"file is {size / 1024**2:,.0f} MB, over the "
                f"{ctx.max_in_memory_bytes / 1024**2:,.0f} MB limit of the {self.name!r} reader, "
                "which parses in memory",
                "split the export by date range, export CSV and use a streaming source "
                "('generic', 'google_ads_api'), or raise SPENDLAB_MAX_IN_MEMORY_BYTES",
            )
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if not is_probably_text(head) and path.suffix.lower() not in BINARY_SUFFIXES:
            raise ctx.fail(
                "looks binary, not a text export (it contains NUL or control bytes)",
                "check you picked the right file; export the report as CSV (UTF-8 or UTF-16)",
            )
        return head


BINARY_SUFFIXES = (".xlsx", ".xls", ".parquet", ".pq", ".gz")


def is_probably_text(head: bytes) -> bool:
    """Heuristic: UTF-16 with a BOM, or bytes with no NUL and few control characters."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control <= max(1, len(head) // 1000)


def decode_text(raw: bytes) -> str:
    """Decode an export: UTF-16 (with BOM), UTF-8 (with or without BOM), else cp1252."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


_NUMBER_JUNK = re.compile(r"[^\d,.\-+eE]")


def clean_number(value: ir.StringValue, decimal: str = ".") -> ir.StringValue:
    """Normalise a localized number string (``"1.234,56 €"``, ``"12%"``, ``"--"``) to ``"1234.56"``.

    ``decimal`` is the decimal separator of the export's locale; the other of ``.``/``,`` is
    treated as a thousands separator. ``--``, ``-`` and blanks become NULL. A string that still
    is not a number survives, so the loader's ``try_cast`` reports it with its row.
    """
    thousands = "," if decimal == "." else "."
    s = value.strip()
    s = s.re_replace("[\\s\u00a0\u202f%$€£¥]", "")
    s = s.replace(thousands, "")
    if decimal != ".":
        s = s.replace(decimal, ".")
    return ibis.cases((s.isin(["", "--", "-", " --"]), ibis.null("string")), else_=s)


def add_row_numbers(table: ir.Table, first_line: int) -> ir.Table:
    """Add ``_row``: line ``first_line`` for the first data row, in file order."""
    return table.mutate(**{ROW: ibis.row_number() + first_line})


def name_id(*names: object) -> str:
    """A stable id for an entity known only by names (UI exports without id columns).

    ``name_id("Acme", "Brand - EN", "shoes")`` is the same on every machine and run; it is prefixed
    with ``n-`` so it never collides with a platform's numeric id.
    """
    import hashlib

    joined = "\x1f".join("" if n is None else str(n) for n in names)
    return "n-" + hashlib.sha1(joined.encode("utf-8")).hexdigest()[:16]
