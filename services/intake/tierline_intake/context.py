"""What intake holds while it runs, typed: built once at start-up (``app._start``) and found
with ``context(runtime)``, instead of values and callables fetched from a dict by string.
The knowledge base and the webhook queue are collaborators behind Protocols, so the ticket
code that calls them imports neither; the caches below them are made on first use."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import httpx
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.policies import PriorityPolicy, Taxonomy
from tierline_intake.tickets.categorizer import Categorizer
from tierline_shared.bus.envelope import Envelope
from tierline_shared.runtime import Runtime

if TYPE_CHECKING:
    from tierline_intake.desks.vault import Vault
    from tierline_intake.kb.service import KbIndexCache


class KnowledgeBase(Protocol):
    async def suggest(self, session: AsyncSession, text: str) -> list[dict[str, Any]]:
        """The top published articles for these words, with their scores."""

    async def propose(self, session: AsyncSession, row: dict[str, Any], actor: str | None,
                      notes: str) -> dict[str, Any]:
        """An article proposed from a ticket's resolution notes."""

    async def published_article(self, session: AsyncSession,
                                article_id: UUID) -> dict[str, Any] | None:
        """The article if it is published (a ticket it resolved is deflected)."""


class WebhookQueue(Protocol):
    async def enqueue(self, session: AsyncSession, envelope: Envelope) -> int:
        """Queue the event's deliveries in the caller's transaction; how many."""


@dataclass
class IntakeContext:
    taxonomy: Taxonomy
    priority_policy: PriorityPolicy
    categorizer: Categorizer
    kb_index: KbIndexCache
    knowledge_base: KnowledgeBase
    webhooks: WebhookQueue
    webhook_outcomes: Counter
    # made on first use
    adapter_unmapped: Counter | None = None
    desk_vault: Vault | None = None
    desk_client: httpx.AsyncClient | None = None
    webhook_client: httpx.AsyncClient | None = None
    desk_sends: set[asyncio.Task[None]] = field(default_factory=set)
    webhook_sends: set[asyncio.Task[None]] = field(default_factory=set)


def intake_context(runtime: Runtime) -> IntakeContext:
    found = runtime.context
    if not isinstance(found, IntakeContext):
        raise RuntimeError("intake's context is built at start-up (tierline_intake.app._start)")
    return found
