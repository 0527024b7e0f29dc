"""Bootstrap: the console's FastAPI app. It owns no tables and reads no topic: every page is
built from the four services' APIs, called with the signed-in person's key."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tierline_console import auth_routes, board, inbox
from tierline_console.auth_routes import home_of
from tierline_console.backend import Backend
from tierline_console.common import COOKIE, SignInNeeded, page, store
from tierline_console.security import SecurityHeaders
from tierline_console.sessions import SessionStore
from tierline_shared.logging import configure_logging
from tierline_shared.settings import Settings

SESSION_TTL_S = 8 * 3600  # idle time before signing in again: a working shift


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging("console", settings.log_level)
        app.state.backend = Backend(settings.reach)
        try:
            yield
        finally:
            await app.state.backend.close()

    app = FastAPI(title="Tierline console", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.sessions = SessionStore(ttl_s=SESSION_TTL_S)
    app.state.secure_cookies = settings.environment == "production"
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"),
              name="static")
    for module in (auth_routes, inbox, board):
        app.include_router(module.router)

    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, _: SignInNeeded) -> Response:
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": "/signin"})
        return RedirectResponse("/signin", status_code=303)

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        return page(request, "error.html", status=exc.status_code, detail=str(exc.detail))

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        session = store(request).get(request.cookies.get(COOKIE), time.monotonic())
        return RedirectResponse(home_of(session) if session else "/signin", status_code=303)

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return HTMLResponse(status_code=204)

    return app
