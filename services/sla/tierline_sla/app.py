"""Bootstrap: build sla's FastAPI app and its event handlers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from fastapi import FastAPI

from tierline_shared.bus.consumer import Handler
from tierline_shared.bus.events import (
    TicketAssigned,
    TicketCreated,
    TicketPriorityChanged,
    TicketStatusChanged,
)
from tierline_shared.clock import Clock
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import Settings
from tierline_shared.web import create_service_app
from tierline_sla import models
from tierline_sla.api import router
from tierline_sla.policy import load_sla_policy
from tierline_sla.service import (
    on_priority_changed,
    on_status_changed,
    on_ticket_assigned,
    on_ticket_created,
)


async def _load_policies(runtime: Runtime) -> None:
    runtime.state["sla_policy"] = load_sla_policy(runtime.settings.policy_dir)


def handlers(runtime: Runtime) -> Mapping[str, Handler]:
    return {
        TicketCreated.event_type: partial(on_ticket_created, runtime),
        TicketAssigned.event_type: partial(on_ticket_assigned, runtime),
        TicketStatusChanged.event_type: partial(on_status_changed, runtime),
        TicketPriorityChanged.event_type: partial(on_priority_changed, runtime),
    }


SPEC = ServiceSpec(name="sla", metadata=models.metadata, outbox=models.outbox,
                   inbox=models.inbox, consumes=lambda t: [*t.tickets, t.routing],
                   handlers=handlers, on_start=_load_policies)


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    return create_service_app(
        SPEC, settings, routers=[router], clock=clock, title="Tierline SLA",
        description="Runs SLA clocks per ticket from the ticket and routing events.",
    )
