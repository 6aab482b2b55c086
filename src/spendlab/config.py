"""Settings: process-wide from the environment (``SPENDLAB_`` prefix), per-workspace from
``spendlab.toml`` inside the workspace folder. Secrets come only from the environment."""

from __future__ import annotations

import fcntl
import os
import tomllib
import uuid
from pathlib import Path

import tomli_w
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from spendlab.core.money import is_currency
from spendlab.errors import ConfigError

WORKSPACE_FILE = "spendlab.toml"


class Settings(BaseSettings):
    """Process-wide settings, read from ``SPENDLAB_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SPENDLAB_", extra="ignore")

    workspace: Path | None = Field(
        None, description="Default workspace when --workspace is omitted"
    )
    threads: int = Field(2, ge=1, description="Worker threads for the warehouse and model fits")
    memory_limit: str = Field("8GB", description="DuckDB memory limit per workspace connection")
    home: Path = Field(
        Path.home() / ".spendlab",
        description="Folder for the server store (when store_url is unset) and caches",
    )
    workspaces_root: Path | None = Field(
        None,
        description="Where the API may create new workspaces (default <home>/workspaces); "
        "existing folders elsewhere can still be registered by an admin",
    )
    store_url: str | None = Field(
        None,
        description="SQLAlchemy URL of one database for the server's store (users, keys, jobs, "
        "workspace registry) and every workspace's store (runs, curve sets, scenarios, rules, "
        "actions); PostgreSQL for a multi-workspace server. Unset: <home>/spendlab.db for the "
        "server and app.db inside each workspace (see spendlab.workspace)",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Signs API tokens and session cookies (32+ random bytes). Unset: a random key "
        "per server process, so logins do not survive a restart",
    )
    access_token_minutes: int = Field(15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(7, ge=1, le=90)
    session_hours: int = Field(12, ge=1, le=24 * 30)
    login_attempts_per_minute: int = Field(
        5, ge=1, description="Failed logins allowed per client address and per user name"
    )
    forwarded_allow_ips: str = Field(
        "",
        description="Addresses of reverse proxies whose X-Forwarded-For the server believes "
        "(comma-separated, e.g. 127.0.0.1); empty: none, so a client cannot pick the address "
        "the login limit counts against",
    )
    max_upload_bytes: int = Field(200 * 1024**2, ge=1, description="Largest file the API accepts")
    cookie_secure: bool = Field(
        False, description="Send the session cookie over HTTPS only (set behind TLS)"
    )
    max_in_memory_bytes: int = Field(
        512 * 1024**2,
        ge=1,
        description="Largest file a reader that parses in memory (XLSX, UI exports) accepts",
    )

    scheduler: bool = Field(
        True,
        description="Run saved rules on their schedules inside `spendlab serve` "
        "(SPENDLAB_SCHEDULER=0 turns it off, e.g. when cron or Airflow runs `spendlab rules run`)",
    )
    scheduler_time: str = Field(
        "06:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Local time (HH:MM, in each rule's time zone) at which scheduled rules run",
    )

    lock_wait: float = Field(
        30.0,
        ge=0,
        description="Seconds a command waits for a workspace warehouse another process is "
        "using (e.g. a server request or a CLI ingest) before it gives up with a clear error",
    )
    jax_cache: str | None = Field(
        None,
        description="Folder of JAX's compilation cache (default <home>/cache/jax; off disables)",
    )


class WorkspaceConfig(BaseModel):
    """What ``spendlab.toml`` in a workspace holds."""

    name: str = "workspace"
    id: str | None = Field(
        None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Stable id the workspace's rows in a store are keyed by (set on creation)",
    )
    currency: str = Field("USD", description="Reporting currency: every amount is stored in it")
    timezone: str = "UTC"
    warehouse: str = Field(
        "duckdb://warehouse.duckdb",
        description="Ibis URL; a relative duckdb path is inside the workspace folder",
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if not is_currency(v):
            raise ValueError(f"{v!r} is not an ISO 4217 currency code (e.g. USD, EUR, GBP)")
        return v

    @staticmethod
    def new_id() -> str:
        """A new stable workspace id."""
        return uuid.uuid4().hex

    @classmethod
    def load(cls, folder: Path) -> WorkspaceConfig:
        path = folder / WORKSPACE_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML ({e}); fix the file or re-run init") from e
        try:
            return cls.model_validate(data.get("workspace", {}))
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            raise ConfigError(
                f"{path}: [workspace] {loc}: {first['msg']}; edit the file to fix it"
            ) from e

    @classmethod
    def ensure_id(cls, folder: Path) -> WorkspaceConfig:
        """The folder's config, given a stable id first if it has none (written once, even
        when two processes do this together: an exclusive lock on ``spendlab.toml`` while it
        is read and atomically replaced). Raises ``PermissionError`` on a read-only folder."""
        path = folder / WORKSPACE_FILE
        with open(path, "r+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                cfg = cls.load(folder)
                if cfg.id:
                    return cfg
                cfg = cfg.model_copy(update={"id": cls.new_id()})
                tmp = path.with_name(f".{WORKSPACE_FILE}.{os.getpid()}.tmp")
                cfg.save_to(tmp)
                os.replace(tmp, path)
                return cfg
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def save(self, folder: Path) -> None:
        self.save_to(folder / WORKSPACE_FILE)

    def save_to(self, path: Path) -> None:
        data = self.model_dump(exclude_none=True)
        path.write_text(tomli_w.dumps({"workspace": data}), encoding="utf-8")


def get_settings() -> Settings:
    return Settings()
