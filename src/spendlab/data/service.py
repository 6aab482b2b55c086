"""The data domain's use cases on a :class:`~spendlab.workspace.Workspace`, called by the REST
routes and the Data page alike (they only parse input and format the report).

    ws = Workspace.open("my-workspace")
    report = ingest_upload(ws, "keywords.csv", open("keywords.csv", "rb"), "google_ads_api")
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from spendlab.data.ingest import OnError, ingest_file
from spendlab.data.sources import get_source
from spendlab.errors import ConfigError

if TYPE_CHECKING:
    from spendlab.workspace import Workspace

CHUNK = 1024 * 1024
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(filename: str | None) -> str:
    """The upload's base name, reduced to safe characters (no paths, no hidden files)."""
    base = Path((filename or "upload").replace("\\", "/")).name
    clean = _SAFE.sub("_", base).lstrip(".")[:120]
    return clean or "upload"


def parse_options(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Reader options: a mapping as it is, or a JSON object given as text (empty: none)."""
    if raw is None or isinstance(raw, Mapping):
        return dict(raw or {})
    if not raw.strip():
        return {}
    try:
        opts = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"options is not valid JSON ({e.msg} at character {e.pos}); send an object like "
            '{"table": "outcomes"}'
        ) from None
    if not isinstance(opts, dict):
        raise ConfigError('options must be a JSON object like {"table": "outcomes"}')
    return opts


def ingest_upload(
    ws: Workspace,
    filename: str | None,
    content: bytes | BinaryIO,
    source: str,
    options: str | Mapping[str, Any] | None = None,
    *,
    dry_run: bool = False,
    on_error: OnError = "abort",
) -> dict[str, Any]:
    """Save an uploaded file under the workspace's ``uploads/`` folder (kept as lineage) and load
    it through the ``source`` reader in one transaction (:func:`spendlab.data.ingest.
    ingest_file`). ``content`` is the file's bytes or a binary stream (read in chunks);
    ``options`` the reader's options (a mapping, or a JSON object as text). A failed or dry run
    leaves no file behind. Returns the load report (``to_dict``) with ``workspace`` (its name)
    and ``file`` (the safe base name it was saved under)."""
    get_source(source)  # unknown source: clear error before anything is written to disk
    opts = parse_options(options)
    name = safe_name(filename)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder = ws.upload_folder(f"{stamp}-{secrets.token_hex(4)}")
    folder.mkdir(parents=True)
    target = folder / name
    try:
        _save(content, target)
        with ws.warehouse() as wh:  # open only for the write
            report = ingest_file(wh, target, source, opts, on_error=on_error, dry_run=dry_run)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if dry_run:
        shutil.rmtree(folder, ignore_errors=True)
    return {**report.to_dict(), "workspace": ws.name, "file": name}


def _save(content: bytes | BinaryIO, target: Path) -> None:
    with target.open("wb") as out:
        if isinstance(content, bytes | bytearray | memoryview):
            out.write(content)
            return
        while chunk := content.read(CHUNK):
            out.write(chunk)
