"""The HTTP side every service shares: health, readiness, metrics, errors, body limits."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierline_shared.audit import Actor
from tierline_shared.auth.deps import (
    HEADER,
    Authenticator,
    Principal,
    authenticate,
    forbidden,
    refusal,
    route_scopes,
)
from tierline_shared.auth.keys import allows
from tierline_shared.auth.limits import SharedBuckets, TokenBuckets
from tierline_shared.auth.store import KeyCache
from tierline_shared.bus.consumer import is_transient
from tierline_shared.clock import Clock
from tierline_shared.logging import configure_logging
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import Settings

log = logging.getLogger(__name__)


async def get_runtime(request: Request) -> Runtime:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a
    thread hand-off on every request for an attribute read."""
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def current_actor(principal: Annotated[Principal, Depends(authenticate)]) -> Actor:
    """Who is calling, for the audit log: the API key's name and id."""
    return Actor(principal.name, principal.key_id)


ActorDep = Annotated[Actor, Depends(current_actor)]


def error_body(error: str, detail: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error}
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    return body


class BodyLimitMiddleware:
    """413 with a JSON body for bodies over ``max_bytes``, declared or streamed.

    (Starlette's own limiter answers a declared oversize body in plain text.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse(_too_large(self.max_bytes), status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise StarletteHTTPException(413, _too_large(self.max_bytes))
            return message

        await self.app(scope, limited, send)


class ObserveMiddleware:
    """Counts every answer by method, matched route and status, and times it to its last
    byte, in the registry of the runtime the app's lifespan started. Pure ASGI: the request
    and the response pass through untouched (no ``BaseHTTPMiddleware`` task and stream per
    request). A request that ends in an exception is counted by nobody here, as before: the
    server error handler outside answers it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_status)
        runtime: Runtime | None = getattr(scope["app"].state, "runtime", None)
        if runtime is None or not status:
            return
        requests, latency = _http_instruments(runtime.registry)
        # The router left the matched route in the scope: no second matching pass.
        route = getattr(scope.get("route"), "path", "unmatched")
        requests.labels(scope["method"], route, str(status)).inc()
        latency.labels(scope["method"], route).observe(time.perf_counter() - started)


class StorableTextMiddleware:
    """422 naming the field for text PostgreSQL cannot store: NUL characters and lone
    surrogates (valid JSON escapes, but not UTF-8), in the JSON body, the query or the path.
    Without it they reach the database and come back as a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for part, raw in (("path", scope.get("raw_path") or b""),
                          ("query", scope.get("query_string") or b"")):
            if b"%00" in raw.lower() or b"\x00" in raw:
                await _unstorable(part)(scope, receive, send)
                return
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        if scope["method"] not in ("POST", "PUT", "PATCH") or b"json" not in content_type:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            try:
                message = await receive()
            except StarletteHTTPException as exc:  # the body limit, while reading it here
                await JSONResponse(exc.detail, status_code=exc.status_code)(scope, receive,
                                                                            send)
                return
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if b"\\u" in body:
            with contextlib.suppress(ValueError):
                field = _unstorable_field(json.loads(body), "body")
                if field is not None:
                    await _unstorable(field)(scope, receive, send)
                    return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _unstorable_field(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable_field(key, f"{path}.[key]") or \
                _unstorable_field(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_field(item, f"{path}.{index}")
            if found:
                return found
    return None


def _unstorable(field: str) -> JSONResponse:
    return JSONResponse(error_body("validation_error", [{
        "field": field, "type": "unstorable_text",
        "message": "text may not contain NUL characters or unpaired surrogates"}]),
        status_code=422)


def _too_large(limit: int) -> dict[str, Any]:
    return error_body("body_too_large", f"request body exceeds {limit} bytes", limit_bytes=limit)


def create_service_app(
    spec: ServiceSpec,
    settings: Settings,
    *,
    routers: list[APIRouter],
    title: str,
    description: str,
    clock: Clock | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(spec.name, settings.log_level)
        runtime = await Runtime.start(spec, settings, clock)
        app.state.runtime = runtime
        app.state.auth = authenticator(settings, runtime)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.add_middleware(StorableTextMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    app.add_middleware(ObserveMiddleware)  # outermost: it times the other two as well

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        route = request.scope.get("route")
        denied = await refusal(request, route) if isinstance(route, APIRoute) else None
        if denied is not None:
            return await http_error(request, denied)
        problems = [_problem(err) for err in exc.errors()]
        return JSONResponse(jsonable_encoder(error_body("validation_error", problems)),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict):
            body = exc.detail
        elif exc.status_code == 413:
            body = _too_large(settings.max_body_bytes)
        else:
            body = error_body(_ERROR_NAMES.get(exc.status_code, "error"), exc.detail)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, PoolTimeout):
            log.warning("no database connection free in time", extra={"error": repr(exc)})
            return JSONResponse(
                error_body("service_unavailable", "overloaded: no database connection came "
                           "free in time; retry later"),
                status_code=503, headers={"Retry-After": "1"})
        if is_transient(exc):
            log.warning("dependency unavailable", extra={"error": repr(exc)})
            return JSONResponse(
                error_body("service_unavailable", "the database is unreachable; retry later"),
                status_code=503, headers={"Retry-After": "5"})
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(error_body("internal_error", "unexpected error"), status_code=500)

    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @ops.get("/readyz")
    async def readyz(runtime: RuntimeDep) -> JSONResponse:
        ok, checks = await runtime.ready()
        return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks},
                            status_code=200 if ok else 503)

    @ops.get("/metrics", include_in_schema=False)
    async def metrics(request: Request, runtime: RuntimeDep) -> Response:
        if settings.metrics_require_key:
            await require_scope(request, "reports:read")
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(ops)
    _document_errors_as_answered(app)
    from tierline_shared.auth.api import router as keys_router

    for router in [*routers, keys_router]:
        unscoped = [f"{', '.join(sorted(r.methods))} {r.path}" for r in router.routes
                    if isinstance(r, APIRoute) and not route_scopes(r)]
        if unscoped:
            raise RuntimeError(f"{spec.name}: routes without a required scope: {unscoped}")
        app.include_router(router, dependencies=[Depends(authenticate)])
    return app


_ERROR_SCHEMA = {
    "title": "Error", "type": "object", "required": ["error"],
    "description": "Every 4xx and 5xx answer: a short error name, what went wrong (for a "
                   "validation error, a list of {field, message, type}) and extra fields.",
    "properties": {"error": {"type": "string"}, "detail": {}},
}


def _error_answer(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, **extra, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


# What every operation behind a key may answer besides its own codes.
_KEY_ANSWERS = {
    "401": _error_answer("No valid API key: missing, malformed, unknown, revoked or expired",
                         headers={"WWW-Authenticate": {"schema": {"type": "string"}}}),
    "403": _error_answer("The key lacks the scope this operation requires"),
    "429": _error_answer("Too many requests for this key; retry after Retry-After seconds",
                         headers={"Retry-After": {"schema": {"type": "integer"},
                                                  "description": "seconds to wait"}}),
}


def _document_errors_as_answered(app: FastAPI) -> None:
    """FastAPI documents its own 422 body; the services answer ``_ERROR_SCHEMA``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            if "HTTPValidationError" in components:
                components["HTTPValidationError"] = _ERROR_SCHEMA
                components.pop("ValidationError", None)
            components.setdefault("Error", _ERROR_SCHEMA)
            for operations in schema.get("paths", {}).values():
                for op in operations.values():
                    if op.get("security"):
                        for code, answer in _KEY_ANSWERS.items():
                            op["responses"].setdefault(code, answer)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def authenticator(settings: Settings, runtime: Runtime) -> Authenticator:
    key = settings.bootstrap_admin_key
    rate, burst = settings.rate_limit_per_s, settings.rate_limit_burst
    limits = (SharedBuckets(runtime.engine, rate, burst)
              if settings.rate_limit_scope == "cluster" else TokenBuckets(rate, burst))
    return Authenticator(KeyCache(runtime.sessions, settings.auth_cache_ttl_s), limits,
                         key.get_secret_value() if key else None)


async def require_scope(request: Request, scope: str) -> None:
    """The check of ``require(scope)`` for an endpoint outside the routers (``/metrics``)."""
    key = request.headers.get(HEADER)
    principal = await authenticate(request, key)
    if not allows(principal.scopes, scope):
        raise forbidden(scope)


def _problem(err: dict[str, Any]) -> dict[str, str]:
    loc = [str(part) for part in err.get("loc", ())]
    if err.get("type") == "json_invalid":
        position = loc[-1] if len(loc) > 1 else "?"
        return {"field": "body", "type": "json_invalid",
                "message": f"request body is not valid JSON (error near character {position})"}
    return {"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")}


_ERROR_NAMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
                415: "unsupported_media_type",
                422: "validation_error", 429: "rate_limited", 503: "service_unavailable"}


_HTTP_INSTRUMENTS: WeakKeyDictionary[CollectorRegistry, tuple[Counter, Histogram]] = (
    WeakKeyDictionary())


def _http_instruments(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    """The HTTP series of a registry, registered on first use (several apps may serve one
    runtime, as the tests do)."""
    instruments = _HTTP_INSTRUMENTS.get(registry)
    if instruments is None:
        instruments = (
            Counter("tierline_http_requests", "HTTP requests by method, route and status.",
                    ["method", "route", "status"], registry=registry),
            Histogram("tierline_http_request_duration_seconds", "HTTP request latency.",
                      ["method", "route"], registry=registry),
        )
        _HTTP_INSTRUMENTS[registry] = instruments
    return instruments
