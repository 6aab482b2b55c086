"""One JSON error shape for every failure, mapped from the exception tree in one place:

{"error": {"status": 422, "code": "validation_error", "message": "...", "issues": [...]}}
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from spendlab.app.auth import AuthError, RateLimited
from spendlab.errors import (
    DataError,
    NotFittedError,
    NotFoundError,
    SpendLabError,
    ValidationError,
    WorkspaceBusyError,
    WorkspaceError,
    WorkspaceNotFoundError,
)

log = logging.getLogger("spendlab.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

#: A database that does not answer (PostgreSQL restarting, the network gone, a pool exhausted,
#: SQLite locked past its timeout): the request may succeed when retried, so 503, not 500.
_DB_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def database_unavailable(e: Exception) -> bool:
    """Whether ``e`` says the database cannot be reached now (rather than a bug in a query)."""
    if isinstance(e, _DB_DOWN):
        return True
    return isinstance(e, sa_exc.DBAPIError) and bool(e.connection_invalidated)


# the fix of a request-validation error, by pydantic error type (the default: see /docs)
_FIXES = {
    "extra_forbidden": "remove the field or correct its spelling (the accepted fields are listed)",
    "missing": "send this required field (see /docs)",
}


class ErrorDetail(BaseModel):
    status: int
    code: str = Field(description="stable machine-readable code, e.g. validation_error")
    message: str
    issues: list[dict[str, Any]] = Field(description="located problems (may be empty)")


class ErrorOut(BaseModel):
    """Every error response."""

    error: ErrorDetail


def error_body(
    status: int, message: str, *, code: str | None = None, issues: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "status": status,
            "code": code or _CODES.get(status, "error"),
            "message": message,
            "issues": issues or [],
        }
    }


def error_response(status: int, message: str, **kw: Any) -> JSONResponse:
    headers = kw.pop("headers", None)
    return JSONResponse(error_body(status, message, **kw), status_code=status, headers=headers)


def status_for(e: SpendLabError) -> tuple[int, str]:
    """HTTP status and code of a SpendLab error."""
    if isinstance(e, AuthError):
        return e.status, _CODES.get(e.status, "unauthorized")
    if isinstance(e, WorkspaceNotFoundError | NotFoundError):
        return 404, "not_found"
    if isinstance(e, ValidationError):
        return 422, "validation_error"
    if isinstance(e, DataError):
        return 422, "data_error"
    if isinstance(e, WorkspaceBusyError):
        return 503, "workspace_busy"
    if isinstance(e, WorkspaceError):
        return 409, "workspace_error"
    if isinstance(e, NotFittedError):
        return 409, "not_configured"
    return 400, "bad_request"  # ConfigError and any other SpendLabError


def document(app: FastAPI) -> None:
    """Make the OpenAPI schema tell the truth about 422s: FastAPI documents its own
    ``{"detail": [...]}`` body, the API answers with ``ErrorOut``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        out = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(out.pop("$defs", {}))
        components["ErrorOut"] = out
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        _retarget(schema["paths"], "#/components/schemas/HTTPValidationError")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _retarget(node: Any, ref: str) -> None:
    if isinstance(node, dict):
        if node.get("$ref") == ref:
            node["$ref"] = "#/components/schemas/ErrorOut"
        for value in node.values():
            _retarget(value, ref)
    elif isinstance(node, list):
        for value in node:
            _retarget(value, ref)


def install(app: FastAPI) -> None:
    document(app)

    @app.exception_handler(SpendLabError)
    async def _spendlab(_: Request, e: SpendLabError) -> JSONResponse:
        status, code = status_for(e)
        issues = [i.to_dict() for i in getattr(e, "issues", [])]
        headers = {"Retry-After": str(e.retry_after)} if isinstance(e, RateLimited) else None
        if status == 503:
            headers = {"Retry-After": "5"}
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return error_response(status, str(e), code=code, issues=issues, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        message = e.detail if isinstance(e.detail, str) else str(e.detail)
        return error_response(e.status_code, message, headers=getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        issues = [
            {
                "location": ".".join(str(x) for x in err.get("loc", ())),
                "problem": err.get("msg", ""),
                "fix": _FIXES.get(
                    err.get("type", ""), "send a value of the documented type (see /docs)"
                ),
            }
            for err in e.errors()
        ]
        first = issues[0] if issues else {"location": "body", "problem": "invalid"}
        return error_response(
            422, f"invalid request: {first['location']}: {first['problem']}", issues=issues
        )

    @app.exception_handler(sa_exc.SQLAlchemyError)
    async def _database(request: Request, e: sa_exc.SQLAlchemyError) -> JSONResponse:
        if not database_unavailable(e):
            return await _crash(request, e)
        # no traceback: an outage is not a bug; the pool reconnects (pool_pre_ping) when it ends
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            str(getattr(e, "orig", None) or e).strip().splitlines()[0][:300],
        )
        return error_response(
            503,
            "the database is not answering (restarting or unreachable); try again in a few seconds",
            code="database_unavailable",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, e: Exception) -> JSONResponse:
        # the response never carries the message, which may hold data
        log.error(
            "unhandled %s on %s %s",
            type(e).__name__,
            request.method,
            request.url.path,
            exc_info=e,
        )
        return error_response(500, "internal error; the server log has the details")
