"""Bootstrap: build metrics' FastAPI app and its event handlers."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from tierline_metrics import models
from tierline_metrics.config import business_seconds, load_metrics_policy
from tierline_metrics.context import MetricsContext, metrics_context
from tierline_metrics.events.erasure import on_requester_erased
from tierline_metrics.events.fold import FOLDED
from tierline_metrics.events.writer import apply_batch
from tierline_metrics.exposition.collectors import register
from tierline_metrics.qa.api import router as qa_router
from tierline_metrics.reports.api import router as kpi_router
from tierline_metrics.reports.sla_feed_api import router as sla_feed_router
from tierline_metrics.reports.summary_api import refresh_counters
from tierline_metrics.reports.summary_api import router as summary_router
from tierline_metrics.reports.voc_job import check as check_voc
from tierline_metrics.reports.voc_job import router as voc_router
from tierline_metrics.staffing.adherence_api import router as adherence_router
from tierline_metrics.staffing.api import router as staffing_router
from tierline_shared.bus.events import (
    TicketRequesterErased,
)
from tierline_shared.bus.handlers import Handlers
from tierline_shared.clock import Clock
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import Settings
from tierline_shared.web import create_service_app

log = logging.getLogger(__name__)


def handlers(runtime: Runtime | None) -> Handlers:
    """One handler folds every run of events into the read models in memory and writes
    each table once (``fold``, ``writer``); an erasure rewrites what is stored, on its own."""
    return (Handlers()
            .batch(FOLDED, apply_batch)
            .each(TicketRequesterErased, on_requester_erased))


async def _start(runtime: Runtime) -> None:
    policy = load_metrics_policy(runtime.settings.policy_dir)
    runtime.context = MetricsContext(
        policy=policy, business_seconds=business_seconds(runtime.settings.policy_dir),
        # Filled by the periodic refresh.
        counters=register(runtime.registry, runtime.clock, policy.per_agent_series))


async def _voc(runtime: Runtime) -> None:
    await check_voc(runtime)


SPEC = ServiceSpec(name="metrics", metadata=models.metadata, outbox=models.outbox,
                   inbox=models.inbox, consumes=lambda t: [*t.tickets, t.routing, t.sla, t.agents],
                   handlers=handlers, on_start=_start,
                   periodic=lambda runtime: [
                       ("refresh-counters", runtime.settings.metrics_refresh_interval_s,
                        refresh_counters),
                       ("voice-of-customer",
                        metrics_context(runtime).policy.voice_of_customer.check_interval_s, _voc)])


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    return create_service_app(
        SPEC, settings, clock=clock,
        routers=[summary_router, kpi_router, voc_router, qa_router, staffing_router,
                 adherence_router, sla_feed_router],
        title="Tierline metrics",
        description="Read models of the event stream, served to Prometheus and as reports.",
    )
