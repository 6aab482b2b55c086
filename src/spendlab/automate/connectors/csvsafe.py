"""CSV cells that stay data when a spreadsheet opens them.

Spreadsheets run a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a
formula ("CSV injection", OWASP). Every text cell SpendLab writes goes through :func:`neutralise`:
such a cell gets one leading apostrophe, which spreadsheets display as text and do not evaluate.
:func:`restore` is its exact inverse, so a parsed file gives back the original names:

- write: if ``s`` with its leading apostrophes removed starts with a formula character, write
  ``"'" + s``; otherwise write ``s``;
- read: if a cell with its leading apostrophes removed starts with a formula character, drop one
  apostrophe.

Quotes, commas and newlines inside cells are handled by the ``csv`` module (RFC 4180 quoting);
files are UTF-8 with a byte-order mark so spreadsheet programs read non-ASCII names correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ENCODING = "utf-8-sig"


def neutralise(s: str) -> str:
    return "'" + s if s.lstrip("'").startswith(FORMULA_START) else s


def restore(s: str) -> str:
    return s[1:] if s.startswith("'") and s.lstrip("'").startswith(FORMULA_START) else s


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """Write ``rows`` under ``header``; returns the number of data rows."""
    n = 0
    with path.open("w", encoding=ENCODING, newline="") as f:
        w = csv.writer(f, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(header)
        for r in rows:
            w.writerow(r)
            n += 1
    return n


def read_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of (1-based line of the record's start, cells)."""
    with path.open(encoding=ENCODING, newline="") as f:  # keep \r inside quoted cells
        text = f.read()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        header = []

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        for rec in reader:
            yield start, rec
            start = reader.line_num + 1

    return header, rows()
