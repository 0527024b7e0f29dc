"""The services' middlewares are pure ASGI: ``observe`` counts and times each answer by
method, matched route and status, and passes a streamed answer through as it comes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from prometheus_client import CollectorRegistry
from starlette.middleware.base import BaseHTTPMiddleware

from tierline_shared.settings import Settings
from tierline_shared.web import ObserveMiddleware, create_service_app


def _app() -> tuple[FastAPI, CollectorRegistry]:
    app = FastAPI()
    registry = CollectorRegistry()
    app.state.runtime = SimpleNamespace(registry=registry)
    app.add_middleware(ObserveMiddleware)

    @app.get("/items/{item}")
    async def item(item: int) -> dict[str, int]:
        return {"item": item}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for n in range(3):
                yield f"part {n}\n".encode()
        return StreamingResponse(parts(), media_type="text/plain")

    return app, registry


async def test_observe_counts_by_route_template_and_status_and_times_each_answer() -> None:
    app, registry = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        assert (await client.get("/items/1")).status_code == 200
        assert (await client.get("/items/2")).status_code == 200
        assert (await client.get("/items/x")).status_code == 422
        assert (await client.get("/nowhere")).status_code == 404
        streamed = await client.get("/stream")
    assert streamed.text == "part 0\npart 1\npart 2\n"

    def count(route: str, status: str) -> float | None:
        return registry.get_sample_value("tierline_http_requests_total", {
            "method": "GET", "route": route, "status": status})

    assert count("/items/{item}", "200") == 2
    assert count("/items/{item}", "422") == 1
    assert count("unmatched", "404") == 1
    assert count("/stream", "200") == 1
    assert registry.get_sample_value("tierline_http_request_duration_seconds_count", {
        "method": "GET", "route": "/items/{item}"}) == 3


async def test_two_apps_on_one_runtime_share_its_series() -> None:
    first, registry = _app()
    second = FastAPI()
    second.state.runtime = first.state.runtime
    second.add_middleware(ObserveMiddleware)

    @second.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    for app in (first, second):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            await client.get("/ping")
    assert registry.get_sample_value("tierline_http_requests_total", {
        "method": "GET", "route": "/ping", "status": "200"}) == 1


def test_no_service_middleware_is_a_base_http_middleware() -> None:
    from tierline_intake.app import SPEC

    app = create_service_app(SPEC, Settings(), routers=[], title="t", description="d")
    classes = [m.cls for m in app.user_middleware]
    assert ObserveMiddleware in classes
    assert not [c for c in classes
                if isinstance(c, type) and issubclass(c, BaseHTTPMiddleware)], classes

