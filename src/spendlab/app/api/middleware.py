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
    """nosniff, no framing, same-origin referrers on every response; no caching of API data."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope.get("path", "").startswith("/api/")

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = self.HEADERS + (((b"cache-control", b"no-store"),) if api else ())
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)
