"""Pure ASGI middleware (no BaseHTTPMiddleware: it would swallow the body limit's signal):
a request body size limit answering 413 with a message, and security headers."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spendlab.app.api.errors import error_body


class TooLarge(BaseException):
    """Raised from ``receive`` when the body passes the limit; caught by :class:`BodyLimit`."""


class BodyLimit:
    """Reject bodies larger than ``limit`` bytes: by Content-Length at once, else while reading."""

    def __init__(self, app: ASGIApp, limit: int, web_limit: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.web_limit = web_limit or limit

    def _message(self) -> str:
        mb = self.limit / 1024**2
        return (
            f"request body larger than the {mb:.0f} MB limit; split the file (e.g. by month) "
            "or raise SPENDLAB_MAX_UPLOAD_BYTES"
        )

    async def _reject(self, send: Send) -> None:
        body = json.dumps(error_body(413, self._message())).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.web_limit if scope.get("path", "").startswith("/app/") else self.limit
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except TooLarge:
            if not started:
                await self._reject(send)


class SecurityHeaders:
    """nosniff, no framing, same-origin referrers and a Content-Security-Policy on every
    response; no caching of API data.

    The policy is strict everywhere: API answers (JSON) may load nothing; the login page and
    the dashboard load scripts, styles, fonts and data from this origin only. Dash's own inline
    scripts are allowed by their hashes (``script_hashes``, from ``Dash.csp_hashes()``);
    inline styles are allowed (Dash components set ``style`` attributes). The interactive API
    docs at /docs load Swagger UI from its CDN, so that page alone allows it."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    )
    API_CSP = "default-src 'none'; frame-ancestors 'none'"
    DOCS_CSP = (
        "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
        "https://fastapi.tiangolo.com; frame-ancestors 'none'; object-src 'none'"
    )

    def __init__(self, app: ASGIApp, script_hashes: list[str] | None = None) -> None:
        self.app = app
        self.script_hashes = script_hashes if script_hashes is not None else []

    def page_csp(self) -> str:
        scripts = " ".join(["'self'", *self.script_hashes])
        return (
            f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        )

    def csp(self, path: str) -> str:
        if path.startswith("/api/") or path == "/openapi.json":
            return self.API_CSP
        if path.startswith(("/docs", "/redoc")):
            return self.DOCS_CSP
        return self.page_csp()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        api = path.startswith("/api/")
        csp = ((b"content-security-policy", self.csp(path).encode()),)

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = self.HEADERS + csp + (((b"cache-control", b"no-store"),) if api else ())
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)
