"""Sign-in with an API key (in a POST body, never a URL), a session cookie, sign-out."""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tierline_console.common import (
    COOKIE,
    PRE_COOKIE,
    BackendDep,
    CheckedDep,
    page,
    store,
)
from tierline_console.sessions import Identity, Session

router = APIRouter(include_in_schema=False)


def home_of(session: Session) -> str:
    return "/wallboard" if session.who.supervisor and not session.who.agent_id else "/inbox"


def _signin_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = page(request, "signin.html", status=status, error=error, pre=token)
    response.set_cookie(PRE_COOKIE, token, httponly=True, samesite="strict", path="/signin",
                        secure=request.app.state.secure_cookies)
    return response


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(request: Request) -> Response:
    return _signin_form(request)


@router.post("/signin")
async def signin(request: Request, backend: BackendDep,
                 api_key: Annotated[str, Form(max_length=200)] = "",
                 pre: Annotated[str, Form(max_length=200)] = "") -> Response:
    sent = request.cookies.get(PRE_COOKIE) or ""
    if not sent or not hmac.compare_digest(sent, pre):
        return _signin_form(request, "The sign-in form expired: try again.", 403)
    if not api_key.strip():
        return _signin_form(request, "Enter your API key.", 422)
    who = await backend.whoami(api_key.strip())
    if who.status == 401:
        return _signin_form(request, "That key is not valid (unknown, revoked or expired).",
                            401)
    if not who.ok:
        return _signin_form(request, f"Tierline did not answer: {who.detail()}", 503)
    identity = Identity(who.body["id"], who.body["name"], frozenset(who.body["scopes"]),
                        who.body["agent_id"])
    if not identity.agent_id and not identity.supervisor:
        return _signin_form(request, "This key is neither bound to an agent nor a "
                            "supervisor's (admin or agents:admin).", 403)
    sid, session = store(request).open(api_key.strip(), identity, time.monotonic())
    response = RedirectResponse(home_of(session), status_code=303)
    response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", path="/",
                        secure=request.app.state.secure_cookies)
    response.delete_cookie(PRE_COOKIE, path="/signin")
    return response


@router.post("/signout")
async def signout(request: Request, _: CheckedDep) -> Response:
    store(request).close(request.cookies.get(COOKIE))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
