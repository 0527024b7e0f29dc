"""History rows wait in the unit of work until commit; a handler that reads them back in the
same batch still sees the ones written before it. Router on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from tests.helpers import offline_runtime
from tierline_router.app import SPEC, _start
from tierline_router.models import history
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import MajorIncidentTicketLinked, TicketCreated
from tierline_shared.bus.handlers import Delivered
from tierline_shared.clock import FrozenClock

pytestmark = [pytest.mark.db]

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
async def router(databases: Any) -> AsyncIterator[Any]:
    runtime = offline_runtime(SPEC, databases.create(), FrozenClock(T0))
    await _start(runtime)
    yield runtime
    await runtime.engine.dispose()


async def test_a_batch_links_a_ticket_to_a_major_incident_once_after_its_routing_steps(
        router: Any) -> None:
    ticket_id, mi = uuid.uuid4(), uuid.uuid4()
    created = TicketCreated(ticket_id=ticket_id, ticket_type="incident", title="VPN down",
                            category="network", priority="P2", impact="high", urgency="high",
                            channel="portal", requester_id="u-1", created_at=T0)
    # sla links the ticket, and links it again (a redelivery under a new id): one batch.
    linked = [MajorIncidentTicketLinked(major_incident_id=mi, ticket_id=ticket_id, linked_at=T0)
              for _ in range(2)]
    batch = [Delivered(Envelope.wrap(e, source="/test", time=T0)) for e in (created, *linked)]
    async with router.transaction() as uow:
        await router.spec.handlers(router).apply(uow, batch)
    async with router.sessions() as session:
        steps = (await session.execute(select(history.c.action, history.c.detail)
                                       .where(history.c.ticket_id == ticket_id)
                                       .order_by(history.c.id))).all()
    actions = [action for action, _ in steps]
    assert actions.count("major_incident") == 1
    assert actions[-1] == "major_incident" and len(actions) > 1  # routed first, then linked
    assert steps[-1].detail == {"major_incident_id": str(mi)}
