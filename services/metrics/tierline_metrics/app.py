"""Bootstrap: build metrics' FastAPI app and its event handlers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import APIRouter, FastAPI

from tierline_metrics import models
from tierline_metrics.exposition import TicketCounters, register
from tierline_metrics.service import (
    on_clock_started,
    on_presence_changed,
    on_status_changed,
    on_survey_answered,
    on_ticket_assigned,
    on_ticket_created,
    on_ticket_queued,
)
from tierline_metrics.staffing.adherence_api import router as adherence_router
from tierline_metrics.staffing.api import router as staffing_router
from tierline_shared.bus.consumer import Handler
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    SlaClockStarted,
    SurveyAnswered,
    TicketAssigned,
    TicketCreated,
    TicketQueued,
    TicketStatusChanged,
)
from tierline_shared.clock import Clock
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import Settings
from tierline_shared.web import RuntimeDep, create_service_app

log = logging.getLogger(__name__)


def handlers(runtime: Runtime) -> Mapping[str, Handler]:
    return {
        TicketCreated.event_type: on_ticket_created,
        TicketAssigned.event_type: on_ticket_assigned,
        TicketQueued.event_type: on_ticket_queued,
        SlaClockStarted.event_type: on_clock_started,
        TicketStatusChanged.event_type: on_status_changed,
        SurveyAnswered.event_type: on_survey_answered,
        AgentPresenceChanged.event_type: on_presence_changed,
    }


async def _start(runtime: Runtime) -> None:
    runtime.state["counters"] = register(runtime.registry)  # filled by the periodic refresh


async def _refresh(runtime: Runtime) -> None:
    counters: TicketCounters = runtime.state["counters"]
    async with runtime.sessions() as session:
        await counters.refresh(session)


SPEC = ServiceSpec(name="metrics", metadata=models.metadata, outbox=models.outbox,
                   inbox=models.inbox, consumes=lambda t: [*t.tickets, t.routing, t.sla, t.agents],
                   handlers=handlers, on_start=_start,
                   periodic=lambda runtime: [
                       ("refresh-counters", runtime.settings.metrics_refresh_interval_s,
                        _refresh)])

reports = APIRouter(prefix="/v1", tags=["reports"])


@reports.get("/reports/summary")
async def summary(runtime: RuntimeDep) -> dict[str, object]:
    """Ticket counts by priority and category, as created and as assigned."""
    await _refresh(runtime)
    counters: TicketCounters = runtime.state["counters"]
    return {
        "created": [{"priority": p, "category": c, "count": n}
                    for (p, c), n in sorted(counters.created.items())],
        "assigned": [{"priority": p, "category": c, "count": n}
                     for (p, c), n in sorted(counters.assigned.items())],
    }


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    return create_service_app(
        SPEC, settings, routers=[reports, staffing_router, adherence_router], clock=clock,
        title="Tierline metrics",
        description="Read models of the event stream, served to Prometheus and as reports.",
    )
