"""What every console page needs: the signed-in session, CSRF checks, rendering."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from tierline_console import views
from tierline_console.backend import Backend
from tierline_console.sessions import Session, SessionStore, csrf_ok

COOKIE = "tl_console"
PRE_COOKIE = "tl_console_pre"  # the sign-in form's own CSRF token, before any session
CSRF_HEADER = "X-CSRF-Token"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals.update(duration=views.duration, reasons_text=views.reasons_text,
                             until=views.until, clock_time=views.clock_time)


def store(request: Request) -> SessionStore:
    return request.app.state.sessions  # type: ignore[no-any-return]


def backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]


BackendDep = Annotated[Backend, Depends(backend)]


def now() -> datetime:
    return datetime.now(UTC)


class SignInNeeded(Exception):
    """No session: pages redirect to the sign-in form, fragments answer 401."""


def current(request: Request) -> Session:
    session = store(request).get(request.cookies.get(COOKIE), time.monotonic())
    if session is None:
        raise SignInNeeded
    return session


SessionDep = Annotated[Session, Depends(current)]


async def checked(request: Request, session: SessionDep,
                  csrf: Annotated[str | None, Form()] = None) -> Session:
    """A state-changing request: the session's CSRF token in the form or the header."""
    if not csrf_ok(session, csrf or request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "the form is stale or was not sent by this console: "
                                 "reload the page and try again")
    return session


CheckedDep = Annotated[Session, Depends(checked)]


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "console_session", None)
    return templates.TemplateResponse(request, name, {"session": session, **context},
                                      status_code=status)


def forbidden(request: Request, session: Session, what: str) -> HTMLResponse:
    request.state.console_session = session
    return page(request, "forbidden.html", status=403, what=what)
