"""The audit log of tickets: who changed which of a ticket's fields, from what to what.

Every path that changes a ticket (the REST API, the adapters, interactions, the jobs and
consumers) calls :func:`audit_ticket` in its own transaction. Derived bulk (``reasons``,
``context``) and bookkeeping (``updated_at``) are left out: the history and the ticket
itself hold those.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.models import audit_log
from tierline_shared import audit
from tierline_shared.runtime import Runtime

ENTITY = "ticket"
FIELDS = ("ticket_type", "status", "title", "description", "requester", "channel", "impact",
          "urgency", "priority", "category", "subcategory", "needs_triage", "deflected",
          "external_system", "external_id", "external_status", "resolved_at", "closed_at",
          "closed_by", "reopen_count", "csat", "nps", "repeat_contacts", "assigned_agent",
          "assigned_tier", "offered_agent", "offered_tier", "routing_state")


def snapshot(row: Mapping[str, Any]) -> dict[str, Any]:
    """The audited fields of a ticket row, copied (the row is changed in place later)."""
    return {k: row[k] for k in FIELDS if k in row}


async def audit_ticket(runtime: Runtime, session: AsyncSession, ticket_id: UUID, action: str,
                       before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    await audit.record(runtime, session, audit_log, entity_type=ENTITY, entity_id=ticket_id,
                       action=action, changes=audit.diff(before, after))


async def audit_added(runtime: Runtime, session: AsyncSession, ticket_id: UUID, action: str,
                      what: str, detail: Mapping[str, Any]) -> None:
    """A change that adds to the ticket (a comment, a request) rather than editing a field:
    ``what`` goes from nothing to ``detail``."""
    await audit_ticket(runtime, session, ticket_id, action, {},
                       {what: {k: v for k, v in detail.items() if v is not None}})
