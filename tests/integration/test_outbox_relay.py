"""The outbox relay on the real broker and a real PostgreSQL database: order, delete after
ack, the broker away, two replicas with a leader killed, NOTIFY wake-ups, round trips."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.faults import BrokerProxy
from tests.helpers import eventually, header, read_topic
from tests.reports import REPORT
from tests.round_trips import RoundTrips
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import TicketCreated
from tierline_shared.bus.outbox import OutboxRelay, enqueue, outbox_channel
from tierline_shared.bus.topics import Topics
from tierline_shared.db import bus_tables, make_engine, make_sessionmaker
from tierline_shared.embedded import EmbeddedKafka, free_port

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def created(ticket_id: uuid.UUID) -> Envelope:
    event = TicketCreated(ticket_id=ticket_id, ticket_type="incident", title="t",
                          category="network", priority="P3", impact="medium", urgency="medium",
                          channel="chat", requester_id="u1", created_at=datetime.now(UTC))
    return Envelope.wrap(event, source="/test", time=datetime.now(UTC))


class Scene:
    """A fresh outbox schema, a writer engine, and relays built on engines of their own."""

    def __init__(self, database_url: str, bootstrap: str) -> None:
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.schema = f"relay_{uuid.uuid4().hex[:10]}"
        self.outbox: Table = bus_tables(MetaData(schema=self.schema))[0]
        self.topics = Topics(f"t{uuid.uuid4().hex[:10]}")
        self.writer = make_engine(database_url)
        self.engines: list[AsyncEngine] = [self.writer]
        self.tasks: list[tuple[OutboxRelay, asyncio.Task[None]]] = []
        self.written: list[Envelope] = []

    async def create(self) -> None:
        async with self.writer.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            await conn.run_sync(self.outbox.metadata.create_all)

    def relay(self, poll_interval_s: float, batch_size: int = 500) -> tuple[OutboxRelay,
                                                                             AsyncEngine]:
        engine = make_engine(self.database_url)
        self.engines.append(engine)
        relay = OutboxRelay(sessions=make_sessionmaker(engine), engine=engine,
                            outbox=self.outbox, bootstrap_servers=self.bootstrap,
                            topics=self.topics.all(), partitions=3, replication_factor=1,
                            poll_interval_s=poll_interval_s, batch_size=batch_size)
        return relay, engine

    def start(self, relay: OutboxRelay) -> None:
        self.tasks.append((relay, asyncio.create_task(relay.run())))

    async def write(self, n: int, *, keys: int = 3, pg_notify: bool = False) -> None:
        """Commit ``n`` events for ``keys`` tickets, and NOTIFY the channel if asked."""
        tickets = [uuid.uuid4() for _ in range(keys)]
        async with make_sessionmaker(self.writer).begin() as session:
            for i in range(n):
                envelope = created(tickets[i % keys])
                await enqueue(session, self.outbox, self.topics.incidents, envelope)
                self.written.append(envelope)
            if pg_notify:
                await session.execute(text("SELECT pg_notify(:channel, '')"),
                                      {"channel": outbox_channel(self.outbox)})

    async def rows(self) -> int:
        async with self.writer.connect() as conn:
            return int(await conn.scalar(text(f'SELECT count(*) FROM "{self.schema}".outbox')))

    async def published(self, expected: int) -> list[Any]:
        records = await read_topic(self.bootstrap, self.topics.incidents,
                                   lambda recs: len(recs) >= expected, timeout=30)
        await asyncio.sleep(0.5)  # a doubled message would arrive right behind
        return records

    async def close(self) -> None:
        for relay, task in self.tasks:
            await relay.stop()
            await asyncio.wait_for(task, 30)
        for engine in self.engines:
            await engine.dispose()


def assert_each_once_in_order(records: list[Any], written: list[Envelope]) -> None:
    ids = [header(record, "ce_id") for record in records]
    assert sorted(ids) == sorted(str(e.id) for e in written), "lost or doubled"
    for key in {e.key for e in written}:  # per-ticket order as written
        sent = [header(r, "ce_id") for r in records if r.key == key]
        assert sent == [str(e.id) for e in written if e.key == key]


@pytest.fixture
async def scene(database_url: str, kafka: EmbeddedKafka) -> AsyncIterator[Scene]:
    scene = Scene(database_url, kafka.bootstrap_servers)
    await scene.create()
    yield scene
    await scene.close()


@pytest.fixture
def proxied_kafka(tmp_path: Path) -> Iterator[tuple[EmbeddedKafka, BrokerProxy]]:
    """A broker of its own behind a proxy the test can cut."""
    proxy = BrokerProxy(free_port(), target_port=free_port())
    broker = EmbeddedKafka(proxy.target_port, log_path=tmp_path / "broker.log",
                           advertised_port=proxy.port)
    broker.start()
    proxy.open()
    try:
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()


async def test_rows_leave_in_order_each_once_and_a_cycle_is_three_round_trips(
        scene: Scene) -> None:
    relay, engine = scene.relay(poll_interval_s=60)
    scene.start(relay)
    await eventually(lambda: asyncio.sleep(0, relay.leading), what="relay leading")
    await scene.write(1)
    relay.notify()
    await eventually(lambda: asyncio.sleep(0, relay.published == 1), what="first event")

    with RoundTrips(engine) as trips:
        await scene.write(60, keys=4)
        relay.notify()
        await eventually(lambda: asyncio.sleep(0, relay.published == 61), what="61 events")
    assert_each_once_in_order(await scene.published(61), scene.written)
    assert await scene.rows() == 0
    # BEGIN, the one DELETE ... RETURNING, COMMIT: no pre-ping, no lock, no SELECT.
    assert (trips.begins, len(trips.statements), trips.commits, trips.pings) == (1, 1, 1, 0), \
        trips.summary()
    assert trips.statements[0].startswith("DELETE FROM"), trips.statements
    REPORT["outbox relay cycle round trips (before: 8 with rows, 7 empty)"] = trips.summary()


async def test_broker_away_rows_stay_then_are_delivered_once(
        database_url: str, proxied_kafka: tuple[EmbeddedKafka, BrokerProxy],
        caplog: pytest.LogCaptureFixture) -> None:
    broker, proxy = proxied_kafka
    scene = Scene(database_url, broker.bootstrap_servers)
    await scene.create()
    try:
        relay, _ = scene.relay(poll_interval_s=0.2)
        scene.start(relay)
        await scene.write(5)
        relay.notify()
        await eventually(lambda: asyncio.sleep(0, relay.published == 5), what="first events")

        proxy.close()
        with caplog.at_level(logging.WARNING, logger="tierline_shared.bus.outbox"):
            await scene.write(20)
            relay.notify()
            await eventually(lambda: asyncio.sleep(0, any(
                "outbox relay failed" in r.getMessage() for r in caplog.records)), timeout=30,
                what="a failed publish")
        assert relay.published == 5
        assert await scene.rows() == 20  # rolled back: the rows stayed

        proxy.open()
        await eventually(lambda: asyncio.sleep(0, relay.published == 25), timeout=30,
                         what="delivery after the broker came back")
        assert_each_once_in_order(await scene.published(25), scene.written)
        assert await scene.rows() == 0
    finally:
        await scene.close()


async def lock_holder(scene: Scene) -> int | None:
    """The backend holding the schema's relay lock (a bigint key < 2^32: classid 0)."""
    key = zlib.crc32(f"outbox:{scene.schema}".encode())
    async with scene.writer.connect() as conn:
        return await conn.scalar(text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = 0 AND objid = :key AND objsubid = 1"), {"key": key})


async def test_two_relays_one_leads_and_the_other_takes_over_when_it_is_killed(
        scene: Scene) -> None:
    # The first yields for two of its polls after losing its connection (1 s); the second
    # tries every 0.2 s, so on a slow machine too it is the one that takes over.
    poll = 0.2
    first, _ = scene.relay(poll_interval_s=0.5)
    scene.start(first)
    await eventually(lambda: asyncio.sleep(0, first.leading), what="first relay leading")
    second, second_engine = scene.relay(poll_interval_s=poll)
    scene.start(second)

    with RoundTrips(second_engine) as follower:
        started = time.monotonic()
        for _ in range(20):  # commits on both replicas wake the leader, not the follower
            await scene.write(2, pg_notify=True)
            second.notify()
            await asyncio.sleep(0.05)
        await eventually(lambda: asyncio.sleep(0, first.published == 40), what="40 events")
        elapsed = time.monotonic() - started
    assert second.published == 0 and not second.leading
    tries = elapsed / poll + 2
    assert follower.total <= 3 * tries, (follower.summary(), elapsed)  # BEGIN, try, COMMIT

    holder = await lock_holder(scene)
    assert holder is not None
    async with scene.writer.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
    killed = time.monotonic()
    await eventually(lambda: asyncio.sleep(0, second.leading), timeout=10,
                     what="the second relay taking over")
    REPORT["outbox relay take-over after the leader's connection was killed"] = \
        f"{time.monotonic() - killed:.2f} s (poll interval {poll} s)"
    assert time.monotonic() - killed < 3  # "within about a second", with room for load
    assert await lock_holder(scene) not in (None, holder)

    await scene.write(30, pg_notify=True)
    await eventually(lambda: asyncio.sleep(0, second.published == 30), what="30 more events")
    assert_each_once_in_order(await scene.published(70), scene.written)
    assert first.published == 40 and not first.leading
    assert await scene.rows() == 0


async def test_a_notify_from_another_connection_wakes_the_leader(scene: Scene) -> None:
    relay, _ = scene.relay(poll_interval_s=60)
    scene.start(relay)
    await eventually(lambda: asyncio.sleep(0, relay.leading), what="relay leading")
    await scene.write(1)
    relay.notify()
    await eventually(lambda: asyncio.sleep(0, relay.published == 1), what="first event")

    await scene.write(5)  # no NOTIFY, no notify(): waits for the 60 s poll
    await asyncio.sleep(1)
    assert relay.published == 1 and await scene.rows() == 5
    await scene.write(5, pg_notify=True)  # another replica's commit
    await eventually(lambda: asyncio.sleep(0, relay.published == 11), timeout=15,
                     what="publication woken by NOTIFY, long before the 60 s poll")
    assert_each_once_in_order(await scene.published(11), scene.written)
