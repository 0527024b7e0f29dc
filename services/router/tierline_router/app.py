"""Bootstrap: build router's FastAPI app, its event handlers and its jobs."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from tierline_router import models
from tierline_router.agents.api import router as agents_router
from tierline_router.console.api import router as console_router
from tierline_router.context import RouterContext
from tierline_router.desk.assignee import on_desk_assignee
from tierline_router.desk.ids_api import router as desk_ids_router
from tierline_router.routing.erasure import on_requester_erased
from tierline_router.routing.handlers import (
    on_clock_started,
    on_escalated,
    on_major_incident,
    on_presence_reported,
    on_priority_changed,
    on_reassignment_requested,
    on_status_changed,
    on_ticket_created,
)
from tierline_router.routing.jobs import (
    expire_offers,
    queue_gauges,
    refresh_gauges,
    review_queue,
    sweep,
)
from tierline_router.routing.rules import load_routing_policy
from tierline_router.work.api import router as work_router
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    ReassignmentRequested,
    SlaClockStarted,
    TicketCreated,
    TicketDeskAssigneeChanged,
    TicketEscalated,
    TicketPriorityChanged,
    TicketRequesterErased,
    TicketStatusChanged,
)
from tierline_shared.bus.handlers import Handlers
from tierline_shared.clock import Clock
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import Settings
from tierline_shared.web import create_service_app


async def _start(runtime: Runtime) -> None:
    runtime.context = RouterContext(
        routing_policy=load_routing_policy(runtime.settings.policy_dir),
        gauges=queue_gauges(runtime.registry))


def handlers(runtime: Runtime) -> Handlers:
    return (Handlers()
            .each(TicketCreated, partial(on_ticket_created, runtime))
            .each(TicketStatusChanged, partial(on_status_changed, runtime))
            .each(TicketPriorityChanged, partial(on_priority_changed, runtime))
            .each(ReassignmentRequested, partial(on_reassignment_requested, runtime))
            .each(TicketEscalated, partial(on_escalated, runtime))
            .each(SlaClockStarted, partial(on_clock_started, runtime))
            .each(AgentPresenceChanged, partial(on_presence_reported, runtime))
            .each(MajorIncidentDeclared, partial(on_major_incident, runtime))
            .each(MajorIncidentTicketLinked, partial(on_major_incident, runtime))
            .each(TicketRequesterErased, on_requester_erased)
            .each(TicketDeskAssigneeChanged, partial(on_desk_assignee, runtime)))


async def _offers_and_reviews(runtime: Runtime) -> None:
    await expire_offers(runtime)
    await review_queue(runtime)


SPEC = ServiceSpec(
    name="router", metadata=models.metadata, outbox=models.outbox, inbox=models.inbox,
    consumes=lambda t: [*t.tickets, t.sla, t.agents], handlers=handlers, on_start=_start,
    periodic=lambda runtime: [
        ("offers", runtime.settings.router_job_interval_s, _offers_and_reviews),
        ("sweep", runtime.settings.router_sweep_interval_s, sweep),
        ("gauges", 2.0, refresh_gauges)])


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    return create_service_app(
        SPEC, settings, routers=[agents_router, work_router, console_router, desk_ids_router],
        clock=clock,
        title="Tierline router",
        description="Owns agents and assignments; offers each ticket to the best-fit agent "
        "and queues what nobody can take yet.",
    )
