"""Bootstrap: build intake's FastAPI app with its dependencies."""

from __future__ import annotations

import asyncio
from functools import partial

from fastapi import FastAPI

from tierline_intake import models
from tierline_intake.adapters.api import router as adapters_router
from tierline_intake.context import IntakeContext
from tierline_intake.desks import writeback
from tierline_intake.desks.api import router as connections_router
from tierline_intake.desks.inbound_api import router as signed_router
from tierline_intake.desks.vault import check_key
from tierline_intake.directory.api import router as directory_router
from tierline_intake.interactions.api import router as interactions_router
from tierline_intake.interactions.service import on_interaction
from tierline_intake.kb.api import router as kb_router
from tierline_intake.kb.service import (
    REFRESH_S,
    KbIndexCache,
    RuntimeKnowledgeBase,
    on_workaround,
    refresh_kb_index,
)
from tierline_intake.policies import load_priority_policy, load_taxonomy
from tierline_intake.privacy.api import router as erasure_router
from tierline_intake.tickets.api import router
from tierline_intake.tickets.categorizer import CORPUS, Categorizer, load_corpus
from tierline_intake.tickets.routing_events import on_assigned, on_offer_answered, on_queued
from tierline_intake.tickets.search_api import router as search_router
from tierline_intake.tickets.service import auto_close_due, on_escalated
from tierline_intake.webhooks.api import router as webhooks_router
from tierline_intake.webhooks.service import (
    INTERVAL_S,
    RuntimeWebhookQueue,
    deliver_due,
    delivery_counter,
    notifying,
)
from tierline_shared.bus.events import (
    InteractionOccurred,
    MajorIncidentChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    MajorIncidentUpdateDue,
    ProblemWorkaroundRecorded,
    SlaBreached,
    SlaWarning,
    TicketAssigned,
    TicketEscalated,
    TicketOfferAnswered,
    TicketQueued,
)
from tierline_shared.bus.handlers import Handlers, in_turn
from tierline_shared.clock import Clock
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import DEV_DESK_SECRETS_KEY, Settings
from tierline_shared.web import create_service_app


async def _start(runtime: Runtime) -> None:
    settings = runtime.settings
    check_key(settings.desk_secrets_key.get_secret_value(), settings.environment,
              DEV_DESK_SECRETS_KEY)
    taxonomy = load_taxonomy(runtime.settings.policy_dir)
    examples = load_corpus(runtime.settings.corpus_path or CORPUS, taxonomy)
    runtime.context = IntakeContext(
        taxonomy=taxonomy,
        priority_policy=load_priority_policy(runtime.settings.policy_dir),
        categorizer=await asyncio.to_thread(Categorizer, taxonomy, examples),
        kb_index=KbIndexCache(),
        knowledge_base=RuntimeKnowledgeBase(runtime),
        webhooks=RuntimeWebhookQueue(runtime),
        webhook_outcomes=delivery_counter(runtime.registry))
    await refresh_kb_index(runtime)


def handlers(runtime: Runtime) -> Handlers:
    registry = (Handlers()
                .each(TicketEscalated, notifying(runtime, partial(on_escalated, runtime)))
                .each(InteractionOccurred, partial(on_interaction, runtime))
                .each(TicketAssigned, notifying(runtime, partial(on_assigned, runtime)))
                .each(ProblemWorkaroundRecorded, partial(on_workaround, runtime))
                .each(TicketOfferAnswered, in_turn(partial(on_offer_answered, runtime),
                                                   partial(writeback.on_offer_answered, runtime)))
                .each(TicketQueued, partial(on_queued, runtime)))
    for model in (SlaWarning, SlaBreached, MajorIncidentDeclared, MajorIncidentTicketLinked,
                  MajorIncidentUpdateDue, MajorIncidentChanged):
        registry.each(model, notifying(runtime))
    return registry


async def _auto_close(runtime: Runtime) -> None:
    await auto_close_due(runtime)


async def _webhooks(runtime: Runtime) -> None:
    await deliver_due(runtime)


async def _desk_writebacks(runtime: Runtime) -> None:
    await writeback.deliver_due(runtime)


SPEC = ServiceSpec(
    name="intake", metadata=models.metadata, outbox=models.outbox, inbox=models.inbox,
    on_start=_start, serves_without_broker=True,
    consumes=lambda topics: [topics.sla, topics.routing, topics.interactions],
    handlers=handlers,
    periodic=lambda runtime: [
        ("auto-close", runtime.settings.autoclose_check_interval_s, _auto_close),
        ("webhooks", INTERVAL_S, _webhooks),
        ("desk-writebacks", writeback.INTERVAL_S, _desk_writebacks),
        ("kb-index", REFRESH_S, refresh_kb_index),
    ])


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    app = create_service_app(
        SPEC, settings, routers=[router, adapters_router, interactions_router, directory_router,
                               kb_router, webhooks_router, erasure_router, search_router,
                               connections_router],
        clock=clock,
        title="Tierline intake",
        description="Logs incidents and service requests with full context, categorizes and "
                    "prioritizes them with their reasons, and keeps their lifecycle; takes "
                    "chat and IVR contacts and ServiceNow, Jira and Zendesk tickets, enriches "
                    "tickets from the customer directory, suggests knowledge-base articles "
                    "sends signed webhooks and erases a requester's personal data on request.",
    )
    # Authenticated by each desk connection's inbound secret, not by an API key.
    app.include_router(signed_router)
    return app
