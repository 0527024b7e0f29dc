"""The shared consumer loop on the real broker and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Column, MetaData, String, Table, func, select, text
from sqlalchemy.dialects.postgresql import UUID

from tests.helpers import eventually, header, produce, read_topic
from tierline_shared.audit import Actor
from tierline_shared.bus.consumer import ConsumerLoop
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import TicketCreated
from tierline_shared.bus.handlers import Delivered, Handlers
from tierline_shared.bus.kafka import ensure_topics
from tierline_shared.bus.topics import Topics
from tierline_shared.db import bus_tables, make_engine, make_sessionmaker
from tierline_shared.unit_of_work import UnitOfWork, transaction

pytestmark = [pytest.mark.db, pytest.mark.kafka]

metadata = MetaData(schema="bustest")
outbox, inbox = bus_tables(metadata)
effects = Table("effects", metadata, Column("event_id", UUID(as_uuid=True), primary_key=True),
                Column("ticket_id", UUID(as_uuid=True), nullable=False),
                Column("title", String(200), nullable=False))
POISON = "poison"


def created(title: str = "ok") -> Envelope:
    event = TicketCreated(ticket_id=uuid.uuid4(), ticket_type="incident", title=title,
                          category="network", priority="P3", impact="medium", urgency="medium",
                          channel="chat", requester_id="u1", created_at=datetime.now(UTC))
    return Envelope.wrap(event, source="/test", time=datetime.now(UTC))


async def record_effect(uow: UnitOfWork, d: Delivered[TicketCreated]) -> None:
    event = d.event
    if event.title == POISON:
        raise ValueError("this ticket always fails")
    await uow.session.execute(effects.insert().values(
        event_id=d.envelope.id, ticket_id=event.ticket_id, title=event.title))


@pytest.fixture
async def loop(database_url: str, kafka: Any) -> AsyncIterator[dict[str, Any]]:
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE SCHEMA IF NOT EXISTS bustest"))
        await conn.run_sync(metadata.create_all)
    sessions = make_sessionmaker(engine)
    topics = Topics(f"t{uuid.uuid4().hex[:10]}")
    await ensure_topics(kafka.bootstrap_servers, topics.all(), partitions=3,
                        replication_factor=1)
    registry = CollectorRegistry()
    consumer = ConsumerLoop(
        name="test", group_id=f"{topics.prefix}.test", topics=[topics.incidents],
        handlers=Handlers().each(TicketCreated, record_effect), inbox=inbox,
        transaction=partial(transaction, sessions, outbox=outbox, actor=Actor.system("test")),
        bootstrap_servers=kafka.bootstrap_servers, deadletter_topic=topics.deadletter,
        all_topics=topics.all(), partitions=3, replication_factor=1, registry=registry,
        max_attempts=3, retry_backoff_s=0.01)
    task = asyncio.create_task(consumer.run())
    yield {"topics": topics, "sessions": sessions, "registry": registry,
           "bootstrap": kafka.bootstrap_servers}
    await consumer.stop()
    await asyncio.wait_for(task, 20)
    await engine.dispose()


async def effect_count(sessions: Any, ticket_id: uuid.UUID) -> int:
    async with sessions() as session:
        return int(await session.scalar(
            select(func.count()).select_from(effects).where(effects.c.ticket_id == ticket_id)))


def message(env: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return env.key, env.body(), env.headers()


async def test_same_event_twice_is_applied_once(loop: dict[str, Any]) -> None:
    env = created()
    await produce(loop["bootstrap"], loop["topics"].incidents, [message(env), message(env)])
    marker = created()
    await produce(loop["bootstrap"], loop["topics"].incidents, [message(marker)])

    async def marker_seen() -> bool:
        return await effect_count(loop["sessions"], marker.event.ticket_id) == 1

    def duplicates() -> float | None:
        return loop["registry"].get_sample_value(
            "tierline_events_consumed_total",
            {"consumer": "test", "topic": loop["topics"].incidents,
             "type": TicketCreated.event_type, "outcome": "duplicate"})

    await eventually(marker_seen, what="marker applied")
    # The marker's key may sit on another partition than the pair, so it is no proof the
    # second copy was read: wait for that copy itself to be counted as a duplicate.

    async def duplicate_counted() -> bool:
        return duplicates() is not None

    await eventually(duplicate_counted, what="the second copy counted")
    assert await effect_count(loop["sessions"], env.event.ticket_id) == 1
    assert duplicates() == 1

    async def caught_up() -> bool:  # read on the loop's lag timer: committed = end offsets
        return loop["registry"].get_sample_value(
            "tierline_consumer_lag_messages",
            {"consumer": "test", "topic": loop["topics"].incidents}) == 0

    await eventually(caught_up, what="lag 0 once all is committed")


async def test_malformed_messages_are_dead_lettered_and_the_loop_goes_on(
        loop: dict[str, Any]) -> None:
    good = created("after the bad ones")
    broken_body = created()
    await produce(loop["bootstrap"], loop["topics"].incidents, [
        (b"k", b"\x00not json", []),
        (broken_body.key, b'{"ticket_id": 5}', broken_body.headers()),
        message(good),
    ])

    async def good_applied() -> bool:
        return await effect_count(loop["sessions"], good.event.ticket_id) == 1

    await eventually(good_applied, what="valid message after malformed ones applied")
    dead = await read_topic(loop["bootstrap"], loop["topics"].deadletter,
                            lambda recs: len(recs) >= 2)
    errors = sorted(header(r, "dlq_error") or "" for r in dead)
    assert errors[0].startswith("invalid: body does not match tierline.ticket.created.v1")
    assert errors[1].startswith("invalid: missing CloudEvents headers: ce_id")
    assert {r.value for r in dead} == {b"\x00not json", b'{"ticket_id": 5}'}
    assert {header(r, "dlq_topic") for r in dead} == {loop["topics"].incidents}
    assert all(header(r, "dlq_offset") is not None for r in dead)


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_attempts(
        loop: dict[str, Any]) -> None:
    poison = created(POISON)
    good = created("after the poison")
    await produce(loop["bootstrap"], loop["topics"].incidents, [message(poison), message(good)])

    async def good_applied() -> bool:
        return await effect_count(loop["sessions"], good.event.ticket_id) == 1

    await eventually(good_applied, what="message after the poison applied")
    dead = await read_topic(loop["bootstrap"], loop["topics"].deadletter,
                            lambda recs: len(recs) >= 1)
    assert len(dead) == 1
    assert header(dead[0], "dlq_attempts") == "3"
    assert "this ticket always fails" in (header(dead[0], "dlq_error") or "")
    assert header(dead[0], "ce_id") == str(poison.id)
    assert await effect_count(loop["sessions"], poison.event.ticket_id) == 0
    async with loop["sessions"]() as session:  # the failed attempts left nothing behind
        assert await session.scalar(select(func.count()).select_from(inbox)
                                    .where(inbox.c.event_id == poison.id)) == 0
