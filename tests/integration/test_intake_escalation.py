"""Intake applies sla's priority raises to the ticket it owns, on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers import deliver, offline_runtime, outbox_events
from tierline_intake.app import SPEC, _start
from tierline_intake.tickets.schemas import TicketIn
from tierline_intake.tickets.service import get_history, get_ticket, log_ticket
from tierline_shared.bus.events import TicketEscalated
from tierline_shared.clock import FrozenClock

pytestmark = [pytest.mark.db]

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def intake(database_url: str) -> AsyncIterator[Any]:
    runtime = offline_runtime(SPEC, database_url, FrozenClock(T0))
    await _start(runtime)
    yield runtime
    await runtime.engine.dispose()


async def logged(runtime: Any, priority: str) -> uuid.UUID:
    body = TicketIn.model_validate({
        "title": "Payroll export fails", "description": "The export stops with an error",
        "requester": {"id": "u-1"}, "channel": "portal",
        "priority_override": {"priority": priority, "by": "lead"}})
    async with runtime.sessions.begin() as session:
        _, out = await log_ticket(runtime, session, body)
    return uuid.UUID(str(out["id"]))


def escalated(ticket_id: uuid.UUID, to: str | None) -> TicketEscalated:
    return TicketEscalated(ticket_id=ticket_id, kind="hierarchical", level=1, trigger="time",
                           rule="resolution-breach", reason="the resolution clock is breached",
                           notify=["team_manager"], raise_priority_to=to, escalated_at=T0)


async def test_a_hierarchical_escalation_raises_the_priority_once_and_only_upward(
        intake: Any) -> None:
    tid = await logged(intake, "P3")
    await deliver(intake, escalated(tid, "P2"))
    async with intake.sessions() as session:
        row = await get_ticket(session, tid)
        history = await get_history(session, tid)
    assert row is not None and row["priority"] == "P2"
    assert row["reasons"][-1]["reason"].startswith("changed by tierline-sla from P3: "
                                                   "escalation resolution-breach (level 1)")
    assert history[-1]["kind"] == "priority_changed" and history[-1]["actor"] == "tierline-sla"
    changed = [b for k, b in await outbox_events(intake, str(tid))
               if k == "tierline.ticket.priority_changed.v1"]
    assert [(b["from_priority"], b["to_priority"]) for b in changed] == [("P3", "P2")]
    await deliver(intake, escalated(tid, "P3"))  # never downward
    await deliver(intake, escalated(tid, None))  # nothing to raise
    async with intake.sessions() as session:
        assert (await get_ticket(session, tid))["priority"] == "P2"  # type: ignore[index]
    assert len([k for k, _ in await outbox_events(intake, str(tid))
                if k == "tierline.ticket.priority_changed.v1"]) == 1
