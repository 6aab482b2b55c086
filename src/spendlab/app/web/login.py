"""Login and logout pages (plain HTML forms served by FastAPI: no script needed to sign in)."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from spendlab.app.api.deps import SESSION_COOKIE, get_state
from spendlab.app.auth import AuthError, login

router = APIRouter(include_in_schema=False)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SpendLab: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f6fa;margin:0;
display:flex;align-items:center;justify-content:center;height:100vh;color:#1d2433}}
form{{background:#fff;padding:2.2rem 2.4rem;border-radius:10px;
box-shadow:0 2px 14px rgba(0,0,0,.08);width:320px}}
h1{{font-size:1.4rem;margin:0 0 .3rem}} p.sub{{color:#667;margin:0 0 1.4rem;font-size:.9rem}}
label{{display:block;font-size:.85rem;margin:.8rem 0 .3rem;color:#445}}
input{{width:100%;box-sizing:border-box;padding:.55rem .6rem;border:1px solid #ccd;
border-radius:6px;font-size:1rem}}
button{{margin-top:1.3rem;width:100%;padding:.65rem;border:0;border-radius:6px;background:#2454d6;
color:#fff;font-size:1rem;cursor:pointer}}
.err{{background:#fde8e8;color:#9b1c1c;padding:.5rem .7rem;border-radius:6px;font-size:.9rem}}
</style></head>
<body><form method="post" action="/login">
<h1>SpendLab</h1><p class="sub">Sign in to your workspace</p>{error}
<input type="hidden" name="next" value="{next}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></body></html>"""


def _safe_next(nxt: str | None) -> str:
    """Only local dashboard paths: never an open redirect."""
    if nxt and nxt.startswith("/app/") and "//" not in nxt and "\\" not in nxt:
        return nxt
    return "/app/"


def page(error: str | None = None, nxt: str = "/app/", status: int = 200) -> HTMLResponse:
    err = f'<p class="err" role="alert">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(PAGE.format(error=err, next=html.escape(nxt)), status_code=status)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=303)


@router.get("/login")
def login_form(next: str | None = None) -> HTMLResponse:
    return page(nxt=_safe_next(next))


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=300)] = "/app/",
):
    state = get_state(request)
    try:
        client = request.client.host if request.client else "unknown"
        user = login(state.store, state.limiter, client, username, password)
    except AuthError as e:
        return page(str(e), _safe_next(next), status=e.status)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        state.tokens.issue_session(user),
        max_age=state.settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=state.settings.cookie_secure,
        path="/",
    )
    return response


@router.get("/logout")
def logout(request: Request) -> RedirectResponse:
    state = get_state(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        state.tokens.revoke(token, "session")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
