"""Bootstrap: build router's FastAPI app and its event handlers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from fastapi import FastAPI

from tierline_router import models
from tierline_router.api import router
from tierline_router.service import (
    on_priority_changed,
    on_status_changed,
    on_ticket_created,
)
from tierline_shared.bus.consumer import Handler
from tierline_shared.bus.events import TicketCreated, TicketPriorityChanged, TicketStatusChanged
from tierline_shared.clock import Clock
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import Settings
from tierline_shared.web import create_service_app


def handlers(runtime: Runtime) -> Mapping[str, Handler]:
    return {TicketCreated.event_type: partial(on_ticket_created, runtime),
            TicketStatusChanged.event_type: partial(on_status_changed, runtime),
            TicketPriorityChanged.event_type: partial(on_priority_changed, runtime)}


SPEC = ServiceSpec(name="router", metadata=models.metadata, outbox=models.outbox,
                   inbox=models.inbox, consumes=lambda t: t.tickets, handlers=handlers)


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    return create_service_app(
        SPEC, settings, routers=[router], clock=clock, title="Tierline router",
        description="Owns agents and assignments; places each ticket with the best-fit agent.",
    )
