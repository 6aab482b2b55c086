"""The workspace warehouse: an Ibis connection to an embedded DuckDB file (default) or any Ibis
backend by URL, with schema migrations, transactions and idempotent upserts.

A workspace is a folder::

    my-workspace/
      spendlab.toml        name, reporting currency, time zone, warehouse URL
      warehouse.duckdb     the canonical tables (schema.py), _loads, _meta

This is the only module that speaks SQL directly, and only for what Ibis has no expression for
(transactions, DELETE); those statements are built as SQLGlot expressions and rendered in the
backend's dialect, never by string concatenation.

A DuckDB file opened read-write locks out every other process, readers included: every process
opens it for one operation and closes it after (``Workspace.warehouse``), and one that finds it
locked waits its turn (``SPENDLAB_LOCK_WAIT`` seconds) before it fails with a clear message.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import sqlglot.expressions as sge
from ibis.backends import BaseBackend
from pydantic import ValidationError as PydanticValidationError

from spendlab.config import WORKSPACE_FILE, WorkspaceConfig, get_settings
from spendlab.data.schema import LOAD_ID, TABLES, TableSpec, table_spec
from spendlab.errors import (
    ConfigError,
    WorkspaceBusyError,
    WorkspaceError,
    WorkspaceNotFoundError,
)

#: Bump with every migration added to ``_MIGRATIONS``.
SCHEMA_VERSION = 2
META = "_meta"
LOADS = "_loads"

LOADS_SCHEMA = ibis.schema(
    {
        "load_id": "string",
        "source": "string",
        "file": "string",
        "file_sha256": "string",
        "options": "string",
        "loaded_at": "timestamp",
        "rows_read": "int64",
        "added": "int64",
        "replaced": "int64",
        "unchanged": "int64",
        "rejected": "int64",
        "tables": "string",
    }
)


@dataclass(frozen=True)
class TableInfo:
    """What a canonical table holds: rows and, for dated tables, the first and last day."""

    name: str
    rows: int
    first_date: dt.date | None
    last_date: dt.date | None

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "rows": self.rows,
            "first_date": self.first_date.isoformat() if self.first_date else None,
            "last_date": self.last_date.isoformat() if self.last_date else None,
        }


@dataclass(frozen=True)
class UpsertCounts:
    added: int
    replaced: int
    unchanged: int


def _migration_1(wh: Warehouse) -> None:
    """Create every canonical table and the load log."""
    for spec in TABLES.values():
        if spec.name not in wh.con.list_tables():
            wh.con.create_table(spec.name, schema=spec.ibis_schema())
    if LOADS not in wh.con.list_tables():
        wh.con.create_table(LOADS, schema=LOADS_SCHEMA)


def _migration_2(wh: Warehouse) -> None:
    """Add the optional columns declared after a table was created (``ad_performance.language``),
    as NULL for the rows already loaded."""
    for spec in TABLES.values():
        if spec.name not in wh.con.list_tables():
            continue
        have = set(wh.con.table(spec.name).columns)
        for name, dtype in spec.ibis_schema().items():
            if name not in have:
                kind = wh.con.compiler.type_mapper.from_ibis(dtype)
                col = sge.ColumnDef(this=sge.to_identifier(name), kind=kind)
                wh._raw(sge.Alter(this=sge.to_table(spec.name), kind="TABLE", actions=[col]))


#: Ordered migrations: version -> function. Each must be idempotent and run inside a transaction.
_MIGRATIONS = {1: _migration_1, 2: _migration_2}


class Warehouse:
    """A workspace's warehouse. Open with :meth:`init` or :meth:`open`; use as a context manager."""

    def __init__(
        self, root: Path, config: WorkspaceConfig, con: BaseBackend, read_only: bool = False
    ) -> None:
        self.root = root
        self.config = config
        self.con = con
        self.read_only = read_only
        self._in_transaction = False

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        currency: str = "USD",
        name: str | None = None,
        warehouse: str | None = None,
        exist_ok: bool = False,
    ) -> Warehouse:
        """Create a workspace folder with its config and an empty, migrated warehouse."""
        root = Path(path)
        if (root / WORKSPACE_FILE).exists():
            if not exist_ok:
                raise WorkspaceError(
                    f"{root} is already a workspace; open it, or pick another folder"
                )
            return cls.open(root)
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} is a file; pick a folder path for the workspace")
        if root.exists() and any(root.iterdir()):
            raise WorkspaceError(
                f"{root} exists and is not empty; pick a new or empty folder for the workspace"
            )
        try:
            cfg = WorkspaceConfig(
                name=name or root.name,
                id=WorkspaceConfig.new_id(),
                currency=currency,
                **({"warehouse": warehouse} if warehouse else {}),
            )
        except PydanticValidationError as e:
            first = e.errors()[0]
            raise ConfigError(f"workspace {first['loc'][0]}: {first['msg']}") from e
        root.mkdir(parents=True, exist_ok=True)
        cfg.save(root)
        return cls.open(root)

    @classmethod
    def open(
        cls, path: str | Path, *, read_only: bool = False, wait: float | None = None
    ) -> Warehouse:
        """Open an existing workspace (migrating it forward when opened read-write). A DuckDB
        file another process holds is waited for up to ``wait`` seconds (default
        ``SPENDLAB_LOCK_WAIT``); use it briefly and close it (:class:`spendlab.workspace.
        Workspace.warehouse` does), so others can take their turn."""
        root = Path(path)
        if not (root / WORKSPACE_FILE).exists():
            raise WorkspaceNotFoundError(
                f"no workspace at {root} (no {WORKSPACE_FILE}); create one with "
                f"`spendlab init {root}`"
            )
        cfg = WorkspaceConfig.load(root)
        con = _connect(root, cfg.warehouse, read_only, wait)
        wh = cls(root, cfg, con, read_only)
        if not read_only:
            wh.migrate()
        else:
            wh._check_version()
        return wh

    def close(self) -> None:
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect:
            disconnect()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def currency(self) -> str:
        return self.config.currency

    # -- schema ----------------------------------------------------------------------------------
    def schema_version(self) -> int:
        if META not in self.con.list_tables():
            return 0
        t = self.con.table(META)
        rows = t.filter(t.key == "schema_version").select("value").to_pyarrow().to_pylist()
        return int(rows[0]["value"]) if rows else 0

    def _check_version(self) -> int:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"workspace {self.root} has schema version {version}, newer than this SpendLab "
                f"({SCHEMA_VERSION}); upgrade SpendLab to open it"
            )
        return version

    def migrate(self) -> int:
        """Apply pending migrations, each in its own transaction. Returns the new version."""
        version = self._check_version()
        if META not in self.con.list_tables():
            self.con.create_table(META, schema=ibis.schema({"key": "string", "value": "string"}))
        for target in sorted(v for v in _MIGRATIONS if v > version):
            with self.transaction():
                _MIGRATIONS[target](self)
                self._delete_where(META, sge.column("key").eq(sge.convert("schema_version")))
                self.con.insert(
                    META, ibis.memtable({"key": ["schema_version"], "value": [str(target)]})
                )
            version = target
        return version

    # -- reading ---------------------------------------------------------------------------------
    def table(self, name: str) -> ir.Table:
        """A canonical table (or ``_loads``) as an Ibis expression."""
        if name != LOADS:
            table_spec(name)  # clear error for unknown names
        return self.con.table(name)

    def list_tables(self) -> list[TableInfo]:
        """Row counts and date ranges of every canonical table, in one query per table."""
        out = []
        for spec in TABLES.values():
            t = self.con.table(spec.name)
            day = _date_column(spec)
            if day is None:
                out.append(TableInfo(spec.name, int(t.count().execute()), None, None))
                continue
            col = t[day].cast("date")
            row = t.aggregate(n=t.count(), lo=col.min(), hi=col.max()).to_pyarrow().to_pylist()[0]
            out.append(TableInfo(spec.name, int(row["n"]), row["lo"], row["hi"]))
        return out

    def loads(self) -> list[dict[str, object]]:
        """The load log, newest first."""
        t = self.con.table(LOADS).order_by(ibis.desc("loaded_at"))
        rows = t.to_pyarrow().to_pylist()
        for r in rows:
            r["tables"] = json.loads(r["tables"] or "{}")
            r["options"] = json.loads(r["options"] or "{}")
        return rows

    # -- writing ---------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: everything inside commits together or not at all."""
        if self.read_only:
            raise WorkspaceError(f"workspace {self.root} is open read-only; open it read-write")
        if self._in_transaction:
            yield
            return
        self._raw(sge.Transaction())
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._raw(sge.Rollback())
            raise
        else:
            self._raw(sge.Commit())
        finally:
            self._in_transaction = False

    def stage(self, expr: ir.Table, prefix: str = "stage") -> str:
        """Materialise an expression as a temporary table; returns its name. Drop with
        :meth:`drop_temp`."""
        name = f"_{prefix}_{uuid.uuid4().hex[:12]}"
        untyped = {c: expr[c].cast("string") for c, t in expr.schema().items() if t.is_null()}
        if untyped:  # all-NULL columns (an empty frame) have no type the backend can store
            expr = expr.mutate(**untyped)
        self.con.create_table(name, expr, temp=True)
        return name

    def drop_temp(self, name: str) -> None:
        self.con.drop_table(name, force=True)

    def upsert(self, table: str, expr: ir.Table, load_id: str, *, rows: int) -> UpsertCounts:
        """Write ``expr`` (canonical columns, ``rows`` rows) into ``table`` by key, idempotently.

        Rows identical to stored ones (ignoring ``_load_id``) are left alone (``unchanged``); rows
        whose key is stored with other values replace them (``replaced``); new keys are
        ``added``. Values compare NULL-safely (IS NOT DISTINCT FROM). Run inside
        :meth:`transaction`.
        """
        spec = table_spec(table)
        target = self.con.table(table)
        s = expr.select(*spec.names)
        cols = list(spec.ibis_schema().names)
        if not rows:
            return UpsertCounts(0, 0, 0)
        if int(target.count().execute()) == 0:
            self.con.insert(table, s.mutate(**{LOAD_ID: ibis.literal(load_id)}).select(*cols))
            return UpsertCounts(added=rows, replaced=0, unchanged=0)

        t = target.select(*spec.names)
        same = [s[k] == t[k] for k in spec.key] + [
            s[c].identical_to(t[c]) for c in spec.names if c not in spec.key
        ]
        diff_name = self.stage(s.anti_join(t, same), "diff")
        try:
            diff = self.con.table(diff_name)
            n_diff = int(diff.count().execute())
            replaced = 0
            if n_diff:
                keys = [diff[k] == target[k] for k in spec.key]
                replaced = int(diff.semi_join(target, keys).count().execute())
                if replaced:
                    self._delete_matching(table, diff_name, spec)
                self.con.insert(
                    table, diff.mutate(**{LOAD_ID: ibis.literal(load_id)}).select(*cols)
                )
        finally:
            self.drop_temp(diff_name)
        return UpsertCounts(added=n_diff - replaced, replaced=replaced, unchanged=rows - n_diff)

    def log_load(self, record: dict[str, object]) -> None:
        row = {k: [record.get(k)] for k in LOADS_SCHEMA.names}
        self.con.insert(LOADS, ibis.memtable(row, schema=LOADS_SCHEMA))

    # -- SQL the Ibis API does not cover, built with SQLGlot -------------------------------------
    def _raw(self, statement: sge.Expression) -> None:
        self.con.raw_sql(statement.sql(dialect=self.con.name))

    def _delete_where(self, table: str, condition: sge.Expression) -> None:
        self._raw(sge.delete(sge.to_table(table), where=condition))

    def _delete_matching(self, table: str, keys_from: str, spec: TableSpec) -> None:
        """DELETE FROM table WHERE EXISTS (SELECT 1 FROM keys_from d WHERE d.k = table.k ...)."""
        cond = sge.and_(
            *[sge.column(k, table="d").eq(sge.column(k, table=table)) for k in spec.key]
        )
        sub = sge.select("1").from_(sge.to_table(keys_from).as_("d")).where(cond)
        self._delete_where(table, sge.Exists(this=sub))


def _date_column(spec: TableSpec) -> str | None:
    for name in ("date", "timestamp", "first_seen", "updated_at"):
        if name in spec.names:
            return name
    return None


def _holder(message: str) -> str:
    """The process DuckDB names as holding a lock ("... is held in /usr/bin/python (PID 12)")."""
    m = re.search(r"held in (.+?) \(PID (\d+)\)", message)
    return f"process {m.group(2)} ({Path(m.group(1)).name})" if m else "another process"


def _connect_duckdb(root: Path, db: Path, read_only: bool, wait: float) -> BaseBackend:
    """Connect, waiting with growing pauses while another process holds the file's lock."""
    settings = get_settings()
    deadline = time.monotonic() + wait
    pause = 0.02
    while True:
        try:
            return ibis.duckdb.connect(
                database=str(db),
                read_only=read_only,
                threads=settings.threads,
                memory_limit=settings.memory_limit,
            )
        except Exception as e:  # duckdb.IOException: lock held by another process
            if "lock" not in str(e).lower():
                raise WorkspaceError(f"cannot open {db}: {e}") from e
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkspaceBusyError(
                    f"workspace {root} is busy: {_holder(str(e))} has held its warehouse for "
                    f"more than {wait:g} s (DuckDB lets one process write at a time); try again "
                    "when it finishes, or wait longer with SPENDLAB_LOCK_WAIT=SECONDS"
                ) from e
            time.sleep(min(pause, left))
            pause = min(pause * 1.5, 0.5)


def _connect(root: Path, url: str, read_only: bool, wait: float | None = None) -> BaseBackend:
    if url.startswith("duckdb://"):
        rel = url.removeprefix("duckdb://")
        db = Path(rel) if Path(rel).is_absolute() else root / rel
        wait = get_settings().lock_wait if wait is None else wait
        con = _connect_duckdb(root, db, read_only, wait)
        con.raw_sql(
            sge.Set(
                expressions=[
                    sge.SetItem(
                        this=sge.EQ(this=sge.column("enable_progress_bar"), expression=sge.false())
                    )
                ]
            ).sql("duckdb")
        )
        return con
    try:
        return ibis.connect(url)
    except Exception as e:
        raise ConfigError(
            f"cannot connect to warehouse {url!r} from {root / WORKSPACE_FILE}: {e}"
        ) from e
