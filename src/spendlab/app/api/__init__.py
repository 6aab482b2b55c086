"""The server: one FastAPI process with the REST API under /api, the login pages, and the Dash
dashboard mounted at /app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from spendlab import __version__
from spendlab.app.api import errors
from spendlab.app.api.middleware import BodyLimit, SecurityHeaders
from spendlab.app.api.routes import (
    attribution,
    auth,
    datasets,
    explorer,
    health,
    jobs,
    mmm,
    plan,
    product,
    rules,
    users,
    workspaces,
)
from spendlab.app.api.state import AppState
from spendlab.app.store import Store, open_store
from spendlab.config import Settings, get_settings
from spendlab.errors import SpendLabError
from spendlab.workspace import server_store_url

log = logging.getLogger("spendlab.api")

DESCRIPTION = """SpendLab REST API. Authenticate with `POST /api/v1/auth/token` (user name and
password, form fields) and send `Authorization: Bearer <access_token>`, or send an API key in
`X-API-Key`. Errors always have the shape
`{"error": {"status", "code", "message", "issues"}}`. Lists are paginated with `page` and
`page_size`."""


def reconcile_runs(state: AppState) -> None:
    """At start-up: MMM runs whose fit job died with the previous server process become
    ``failed`` with the job's reason, in every registered workspace (list_runs does it again,
    lazily, for a workspace registered later)."""
    from spendlab.measure.mmm import service

    for row in state.workspaces.list():
        try:
            failed = service.reconcile(state.workspaces.handle(row.id), state.jobs.get)
        except (SpendLabError, OSError) as e:  # a moved or broken workspace: the server starts
            log.warning("workspace %s: cannot check its MMM runs: %s", row.name, e)
            continue
        if failed:
            log.warning("workspace %s: fit runs %s failed with their jobs", row.name, failed)


def create_app(
    settings: Settings | None = None, store: Store | None = None, *, web: bool = True
) -> FastAPI:
    """The whole server. ``store`` defaults to the one at ``settings.store_url``."""
    settings = settings or get_settings()
    store = store or open_store(server_store_url(settings))
    state = AppState(settings, store)  # jobs a stopped server left running are failed here
    reconcile_runs(state)
    if state.tokens.ephemeral:
        log.warning("SPENDLAB_SECRET_KEY is not set: using a random key, so logins end on restart")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.scheduler:
            state.scheduler.start()
        yield
        state.close()

    app = FastAPI(
        title="SpendLab",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.spendlab = state
    errors.install(app)
    routers = (health, auth, users, workspaces, datasets, explorer, jobs, attribution, mmm, plan)
    for r in (*routers, rules):
        app.include_router(r.router, prefix="/api/v1")
    app.include_router(product.router)

    script_hashes: list[str] = []
    if web:
        from spendlab.app.web import mount

        script_hashes = mount(app, state)
    else:

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")

    # Dash uploads arrive base64-encoded inside JSON: allow for the 4/3 expansion there
    limit = settings.max_upload_bytes
    app.add_middleware(BodyLimit, limit=limit, web_limit=limit * 4 // 3 + 1024**2)
    app.add_middleware(SecurityHeaders, script_hashes=script_hashes)
    return app
