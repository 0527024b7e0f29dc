"""Outbox depth and the age of its oldest event, as /metrics reports them per service."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import insert, text

from tests.conftest import Databases
from tests.e2e.conftest import counter
from tierline_intake.models import outbox
from tierline_shared.bus.outbox_metrics import OutboxDepth
from tierline_shared.db import make_engine, make_sessionmaker

pytestmark = [pytest.mark.db]


async def test_depth_and_oldest_age_follow_the_outbox(databases: Databases) -> None:
    engine = make_engine(databases.create(), pool_size=1)
    sessions = make_sessionmaker(engine)
    registry = CollectorRegistry()
    depth = OutboxDepth("intake", outbox)
    registry.register(depth)
    try:
        await depth.refresh(sessions)
        empty = generate_latest(registry).decode()
        assert counter(empty, "tierline_outbox_pending_events", service="intake") == 0
        assert counter(empty, "tierline_outbox_oldest_age_seconds", service="intake") == 0
        async with sessions() as session, session.begin():
            for age_s in (90, 30, 5):
                await session.execute(insert(outbox).values(
                    event_id=uuid.uuid4(), topic="t", key=b"k", headers=[], value=b"{}",
                    created_at=text(f"now() - interval '{age_s} seconds'")))
        await depth.refresh(sessions)
        full = generate_latest(registry).decode()
        assert counter(full, "tierline_outbox_pending_events", service="intake") == 3
        assert 90 <= counter(full, "tierline_outbox_oldest_age_seconds", service="intake") < 120
    finally:
        await engine.dispose()
