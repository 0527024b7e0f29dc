"""An erasure reaches the KB index of every intake replica, not only the one that ran it:
an article proposed from the person's ticket is anonymized with its ``updated_at`` moved,
so another replica's index, which refits when the published articles change, drops the
person's name on its next refresh."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from tests.helpers import offline_runtime
from tierline_intake.app import SPEC, _start
from tierline_intake.kb.service import KbIndexCache
from tierline_intake.models import kb_articles
from tierline_intake.privacy.service import erase
from tierline_intake.tickets.schemas import TicketIn
from tierline_intake.tickets.service import log_ticket
from tierline_shared.clock import FrozenClock

pytestmark = [pytest.mark.db]

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def words(cache: KbIndexCache) -> str:
    return " ".join(f"{a.title} {a.body}" for a in cache.index.articles)


async def test_an_erasure_reaches_another_replicas_kb_index(databases: Any) -> None:
    runtime = offline_runtime(SPEC, str(databases.create()), FrozenClock(T0))
    await _start(runtime)
    try:
        person = f"c-{uuid.uuid4().hex[:8]}"
        async with runtime.transaction() as uow:
            _, ticket = await log_ticket(runtime, uow.session, TicketIn.model_validate({
                "title": "VPN drops for Zebulon Quist", "channel": "portal",
                "description": "Zebulon Quist cannot stay connected to the VPN",
                "requester": {"id": person, "name": "Zebulon Quist"}}))
            await uow.session.execute(insert(kb_articles).values(
                id=uuid.uuid4(), title="VPN drops (as Zebulon Quist saw it)",
                body="Zebulon Quist fixed it by removing the VPN profile.", category="network",
                owner="network-team", status="published", last_reviewed_at=T0,
                created_at=T0, updated_at=T0, source_ticket_id=ticket["id"]))
        other = KbIndexCache()  # another replica's index: this process's refit is forced
        await other.refresh(runtime)
        assert "Quist" in words(other)
        await other.refresh(runtime)  # nothing changed: no refit, same index
        before = other.index
        await other.refresh(runtime)
        assert other.index is before
        runtime.clock._now = T0 + timedelta(hours=1)
        async with runtime.transaction() as uow:
            record = await erase(runtime, uow.session, requester_id=person, email=None,
                                 requested_by="dpo")
        assert record["counts"]["kb_articles"] == 1
        await other.refresh(runtime)
        assert "Quist" not in words(other) and "VPN profile" in words(other)
    finally:
        await runtime.engine.dispose()
