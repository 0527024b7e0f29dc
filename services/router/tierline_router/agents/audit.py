"""The audit log of agents: who changed which of an agent's settings, their presence, or
answered an offer made to them. Live load (offered and accepted work, last assignment) is
bookkeeping that changes with every offer, not a change to the agent, and is left out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.models import audit_log
from tierline_shared import audit
from tierline_shared.runtime import Runtime

ENTITY = "agent"
FIELDS = ("name", "tier", "skills", "channels", "max_total", "presence", "languages", "team",
          "manager", "timezone", "working_hours", "desk_ids")


def settings_of(row: Mapping[str, Any]) -> dict[str, Any]:
    # desk ids appear once an agent has some, so a roster without desks audits as before
    return {k: row[k] for k in FIELDS if k in row and (k != "desk_ids" or row[k])}


async def audit_agent(runtime: Runtime, session: AsyncSession, agent_id: str, action: str,
                      before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    await audit.record(runtime, session, audit_log, entity_type=ENTITY, entity_id=agent_id,
                       action=action, changes=audit.diff(before, after))
