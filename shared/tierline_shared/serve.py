"""Run one service under uvicorn, on the host and port its settings name."""

from __future__ import annotations

import importlib

import uvicorn

from tierline_shared.migrate import SERVICES
from tierline_shared.settings import Settings, load_settings

# The console serves pages over the four services' APIs: no schema, no topics.
SERVABLE = (*SERVICES, "console")


def build_app(service: str, settings: Settings):  # type: ignore[no-untyped-def]
    if service not in SERVABLE:
        raise SystemExit(f"unknown service {service!r}; expected one of {', '.join(SERVABLE)}")
    module = importlib.import_module(f"tierline_{service}.app")
    return module.create_app(settings)


def serve(service: str, settings: Settings | None = None) -> None:
    settings = settings or load_settings()
    app = build_app(service, settings)
    uvicorn.run(app, host=settings.host, port=settings.port_for(service), log_config=None,
                access_log=False, timeout_graceful_shutdown=20, server_header=False)
