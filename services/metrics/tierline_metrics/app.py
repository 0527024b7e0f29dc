"""Bootstrap: build metrics' FastAPI app and its event handlers."""

from __future__ import annotations

import logging
from collections import Counter

from fastapi import APIRouter, FastAPI

from tierline_metrics import models
from tierline_metrics.events.erasure import on_requester_erased
from tierline_metrics.events.fold import FOLDED
from tierline_metrics.events.writer import apply_batch
from tierline_metrics.exposition.collectors import Counters, register
from tierline_metrics.qa.api import router as qa_router
from tierline_metrics.reports.api import policy_of
from tierline_metrics.reports.api import router as kpi_router
from tierline_metrics.reports.sla_feed_api import router as sla_feed_router
from tierline_metrics.reports.voc_job import check as check_voc
from tierline_metrics.reports.voc_job import router as voc_router
from tierline_metrics.staffing.adherence_api import router as adherence_router
from tierline_metrics.staffing.api import router as staffing_router
from tierline_shared.auth.deps import require
from tierline_shared.bus.events import (
    TicketRequesterErased,
)
from tierline_shared.bus.handlers import Handlers
from tierline_shared.clock import Clock
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import Settings
from tierline_shared.web import RuntimeDep, create_service_app

log = logging.getLogger(__name__)


def handlers(runtime: Runtime | None) -> Handlers:
    """One handler folds every run of events into the read models in memory and writes
    each table once (``fold``, ``writer``); an erasure rewrites what is stored, on its own."""
    return (Handlers()
            .batch(FOLDED, apply_batch)
            .each(TicketRequesterErased, on_requester_erased))


async def _start(runtime: Runtime) -> None:
    per_agent = policy_of(runtime).per_agent_series
    # Filled by the periodic refresh.
    runtime.state["counters"] = register(runtime.registry, runtime.clock, per_agent)


async def _refresh(runtime: Runtime) -> None:
    counters: Counters = runtime.state["counters"]
    async with runtime.sessions() as session:
        await counters.refresh(session)


async def _voc(runtime: Runtime) -> None:
    await check_voc(runtime)


SPEC = ServiceSpec(name="metrics", metadata=models.metadata, outbox=models.outbox,
                   inbox=models.inbox, consumes=lambda t: [*t.tickets, t.routing, t.sla, t.agents],
                   handlers=handlers, on_start=_start,
                   periodic=lambda runtime: [
                       ("refresh-counters", runtime.settings.metrics_refresh_interval_s,
                        _refresh),
                       ("voice-of-customer",
                        policy_of(runtime).voice_of_customer.check_interval_s, _voc)])

reports = APIRouter(prefix="/v1", tags=["reports"])


@reports.get("/reports/summary",
             dependencies=[require("reports:read")])
async def summary(runtime: RuntimeDep) -> dict[str, object]:
    """Ticket counts by priority and category, as created and as assigned; escalations by
    kind and trigger; SLA breaches by priority (all clocks); major incidents open (not yet
    closed) and in all."""
    await _refresh(runtime)
    counters: Counters = runtime.state["counters"]
    tickets, sla = counters.tickets, counters.sla
    breaches: Counter[str] = Counter()
    for (_, priority), n in sla.breaches.items():
        breaches[priority] += n
    return {
        "created": [{"priority": p, "category": c, "count": n}
                    for (p, c), n in sorted(tickets.created.items())],
        "assigned": [{"priority": p, "category": c, "count": n}
                     for (p, c), n in sorted(tickets.assigned.items())],
        "escalations": [{"kind": k, "trigger": t, "count": n}
                        for (k, t), n in sorted(sla.escalations.items())],
        "breaches": [{"priority": p, "count": n} for p, n in sorted(breaches.items())],
        "major_incidents": {"open": sum(sla.major_incidents_open.values()),
                            "total": sla.major_incidents},
    }


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    return create_service_app(
        SPEC, settings, clock=clock,
        routers=[reports, kpi_router, voc_router, qa_router, staffing_router,
                 adherence_router, sla_feed_router],
        title="Tierline metrics",
        description="Read models of the event stream, served to Prometheus and as reports.",
    )
