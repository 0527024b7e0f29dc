"""Bootstrap: build sla's FastAPI app, its event handlers and its timer job."""

from __future__ import annotations

from fastapi import FastAPI

from tierline_shared.bus.events import TicketRequesterErased
from tierline_shared.bus.handlers import Handlers
from tierline_shared.clock import Clock
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import Settings
from tierline_shared.sla_policy import load_sla_policy
from tierline_shared.web import create_service_app
from tierline_sla import models
from tierline_sla.clocks.api import router
from tierline_sla.clocks.timers import fire_due
from tierline_sla.context import SlaContext
from tierline_sla.erasure import on_requester_erased
from tierline_sla.escalations.domain import load_escalation_policy
from tierline_sla.incidents.api import router as incidents_router
from tierline_sla.tickets import TICKET_EVENTS, ticket_events


async def _start(runtime: Runtime) -> None:
    runtime.context = SlaContext(
        sla_policy=load_sla_policy(runtime.settings.policy_dir),
        escalation_policy=load_escalation_policy(runtime.settings.policy_dir))


def handlers(runtime: Runtime) -> Handlers:
    return (Handlers()
            .batch(TICKET_EVENTS, ticket_events(runtime))
            .each(TicketRequesterErased, on_requester_erased))


async def _fire(runtime: Runtime) -> None:
    await fire_due(runtime)


SPEC = ServiceSpec(name="sla", metadata=models.metadata, outbox=models.outbox,
                   inbox=models.inbox, consumes=lambda t: [*t.tickets, t.routing],
                   handlers=handlers, on_start=_start,
                   periodic=lambda runtime: [
                       ("timers", runtime.settings.sla_timer_interval_s, _fire)])


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    return create_service_app(
        SPEC, settings, routers=[router, incidents_router], clock=clock, title="Tierline SLA",
        description="Runs SLA clocks on business calendars, fires warnings, breaches and "
        "escalations, and keeps major incidents and problems.",
    )
