"""Settings: process-wide from the environment (``SPENDLAB_`` prefix), per-workspace from
``spendlab.toml`` inside the workspace folder. Secrets come only from the environment."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from spendlab.core.money import is_currency
from spendlab.errors import ConfigError

WORKSPACE_FILE = "spendlab.toml"


def workspace_key(path: str | Path) -> str:
    """The key rows of a shared store carry for a workspace: its resolved folder path (planning,
    MMM runs and the rules domain all use it; the CLI knows a path, the server stores the
    resolved path of every registered workspace)."""
    return str(Path(path).expanduser().resolve())


class Settings(BaseSettings):
    """Process-wide settings, read from ``SPENDLAB_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SPENDLAB_", extra="ignore")

    workspace: Path | None = Field(
        None, description="Default workspace when --workspace is omitted"
    )
    threads: int = Field(2, ge=1, description="Worker threads for the warehouse and model fits")
    memory_limit: str = Field("8GB", description="DuckDB memory limit per workspace connection")
    home: Path = Field(
        Path.home() / ".spendlab", description="Folder for the app store when store_url is unset"
    )
    workspaces_root: Path | None = Field(
        None,
        description="Where the API may create new workspaces (default <home>/workspaces); "
        "existing folders elsewhere can still be registered by an admin",
    )
    store_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the app store (users, runs, rules, action log); "
        "default sqlite:///<home>/spendlab.db; PostgreSQL in production",
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

    def resolved_workspaces_root(self) -> Path:
        return (self.workspaces_root or self.home / "workspaces").expanduser().resolve()

    def workspace_store_url(self, workspace: Path) -> str:
        """The store a workspace's commands use: ``store_url``, else ``app.db`` inside it."""
        return self.store_url or f"sqlite:///{(Path(workspace) / 'app.db').resolve()}"

    def resolved_store_url(self) -> str:
        """The store URL, defaulting to a SQLite file under ``home``."""
        return self.store_url or f"sqlite:///{self.home / 'spendlab.db'}"


class WorkspaceConfig(BaseModel):
    """What ``spendlab.toml`` in a workspace holds."""

    name: str = "workspace"
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

    def save(self, folder: Path) -> None:
        (folder / WORKSPACE_FILE).write_text(
            tomli_w.dumps({"workspace": self.model_dump()}), encoding="utf-8"
        )


def get_settings() -> Settings:
    return Settings()
