"""Server and user commands: ``spendlab serve``, ``spendlab user ...``."""

from __future__ import annotations

import getpass
import secrets
import socket
import sys
import threading
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from spendlab.cli.data import JsonOpt
from spendlab.cli.output import emit_json, err, out, run
from spendlab.errors import ConfigError

user_app = typer.Typer(help="Manage dashboard and API users.", no_args_is_help=True)

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Store URL (default: $SPENDLAB_STORE_URL or ~/.spendlab)."),
]


@contextmanager
def _store(url: str | None) -> Iterator[Any]:
    from spendlab.app.store import open_store
    from spendlab.workspace import server_store_url

    st = open_store(url or server_store_url())
    try:
        yield st
    finally:
        st.close()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise ConfigError("the two passwords differ; try again")
    return first


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name (3-64 letters, digits, _.@-).")],
    role: Annotated[str, typer.Option(help="viewer, analyst or admin.")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    workspace: WorkspacesOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user (the password is asked for, never passed as an argument). A viewer or analyst
    opens only the workspaces granted with --workspace (or later with `spendlab user grant`)."""
    from spendlab.app.auth import create_user

    def body() -> dict[str, Any]:
        with _store(store) as st:
            user = create_user(st, username, _password(password_stdin), role).to_dict()
            if workspace and user["role"] != "admin":
                user["workspaces"] = _grant_all(st, username, workspace, None)
            return user

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        out.print(f"Added user [bold]{result['username']}[/] ({result['role']}).")


WorkspacesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (registered now if new) or registered name; repeatable.",
    ),
]


def _grant_all(st: Any, username: str, workspaces: list[str], role: str | None) -> list[dict]:
    """Grant ``username`` ``role`` (default: the user's own role) in each workspace."""
    from sqlalchemy import select

    from spendlab.app import access
    from spendlab.app.registry import Workspaces
    from spendlab.app.store import User
    from spendlab.config import WORKSPACE_FILE, WorkspaceConfig
    from spendlab.workspace import workspaces_root

    with st.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        own = user.role if user is not None else None
    registry = Workspaces(st, workspaces_root())
    out = []
    for ref in workspaces:
        folder = Path(ref).expanduser()
        if (folder / WORKSPACE_FILE).exists():
            row = registry.ensure(WorkspaceConfig.load(folder).name, folder)
        else:
            row = registry.get(ref)
        out.append(access.grant(st, username, row, role or own or "viewer", by="cli"))
    return out


@user_app.command("grant")
def user_grant(
    username: str,
    workspace: WorkspacesOpt = None,
    role: Annotated[
        str | None, typer.Option(help="viewer or analyst (default: the user's own role).")
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Let a user open workspaces (admins open every workspace without a grant)."""
    if not workspace:
        raise typer.BadParameter("give at least one --workspace")

    def body() -> list[dict[str, Any]]:
        with _store(store) as st:
            return _grant_all(st, username, workspace, role)

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
        return
    for g in result:
        out.print(f"{g['username']} is {g['role']} in {g['workspace']}.")


@user_app.command("revoke")
def user_revoke(
    username: str,
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Registered name.")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take a user's access to a workspace away."""
    from spendlab.app import access
    from spendlab.app.registry import Workspaces

    def body() -> dict[str, Any]:
        with _store(store) as st:
            row = Workspaces(st).get(workspace)
            revoked = access.revoke(st, username, row)
            return {"username": username, "workspace": row.name, "revoked": revoked}

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        verb = "no longer opens" if result["revoked"] else "had no grant in"
        out.print(f"{username} {verb} {result['workspace']}.")


@user_app.command("list")
def user_list(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List users."""
    from spendlab.app.auth import list_users

    def body() -> list[dict[str, Any]]:
        with _store(store) as st:
            return list_users(st)

    users = run(body, as_json=as_json)
    if as_json:
        emit_json(users)
        return
    for u in users:
        state = "disabled" if u["disabled"] else "active"
        out.print(f"{u['username']:<24} {u['role']:<8} {state}")


@user_app.command("passwd")
def user_passwd(
    username: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a user's password."""
    from spendlab.app.auth import set_password

    def body() -> dict[str, Any]:
        with _store(store) as st:
            set_password(st, username, _password(password_stdin))
            return {"username": username, "changed": True}

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        out.print(f"Password of {username} changed.")


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            raise ConfigError(
                f"port {port} on {host} is in use; pass --port with a free one"
            ) from None


def serve_app(
    workspaces: list[Path],
    *,
    host: str,
    port: int,
    store_url: str | None,
    browser: bool,
    banner: list[str] | None = None,
    ephemeral_secret: bool = False,
) -> None:
    """Register ``workspaces`` in the store and run the server until interrupted."""
    import uvicorn

    from spendlab.app.api import create_app
    from spendlab.app.store import open_store
    from spendlab.config import get_settings
    from spendlab.workspace import server_store_url

    settings = get_settings()
    if ephemeral_secret and settings.secret_key is None:
        # the demo: a random key is the intent, not a mistake worth a warning
        from pydantic import SecretStr

        settings = settings.model_copy(update={"secret_key": SecretStr(secrets.token_urlsafe(48))})
    _check_port(host, port)
    store = open_store(store_url or server_store_url(settings))
    app = create_app(settings, store)
    for ws in workspaces:
        from spendlab.config import WorkspaceConfig

        name = WorkspaceConfig.load(ws).name
        try:
            app.state.spendlab.workspaces.ensure(name, ws)
        except ConfigError:
            app.state.spendlab.workspaces.ensure(f"{name} ({ws.resolve().name})", ws)
    url = f"http://{host}:{port}/"
    for line in banner or []:
        out.print(line, soft_wrap=True)
    out.print(f"Dashboard: [bold]{url}[/]   API docs: {url}docs   (Ctrl+C stops)")
    if browser:
        threading.Timer(1.5, lambda: webbrowser.open(url)).start()
    proxies = settings.forwarded_allow_ips.strip()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )


def serve(
    workspace: Annotated[
        list[Path] | None,
        typer.Option("--workspace", "-w", help="Workspace(s) to serve (repeatable)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    store: StoreOpt = None,
    browser: Annotated[bool, typer.Option("--browser/--no-browser")] = False,
) -> None:
    """Serve the REST API (/api, docs at /docs) and the web dashboard (/app)."""
    from spendlab.config import get_settings

    paths = list(workspace or [])
    if not paths and get_settings().workspace:
        paths = [get_settings().workspace]
    run(
        lambda: serve_app(paths, host=host, port=port, store_url=store, browser=browser),
        as_json=False,
    )


def demo_admin(store_url: str) -> tuple[str, str]:
    """Create (or reset) the demo admin; returns (user, password)."""
    from sqlalchemy import select

    from spendlab.app.auth import create_user, set_password
    from spendlab.app.store import Role, User, open_store

    password = secrets.token_urlsafe(12)
    st = open_store(store_url)
    try:
        with st.session() as s:
            exists = s.scalar(select(User).where(User.username == "demo")) is not None
        if exists:
            set_password(st, "demo", password)
        else:
            create_user(st, "demo", password, Role.ADMIN)
    finally:
        st.close()
    return "demo", password


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(user_app, name="user")


__all__ = ["demo_admin", "err", "serve_app"]
