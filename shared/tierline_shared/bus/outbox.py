"""Transactional outbox: events are rows written with the state change; a relay publishes them.

Only one relay per schema publishes at a time (a session-level advisory lock held by the
leader's own connection across cycles), so events for one ticket leave in the order they
were written, even with several replicas. A commit wakes the leader: in process through
:meth:`OutboxRelay.notify`, from any replica through ``NOTIFY`` on :func:`outbox_channel`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.kafka import Target, ensure_topics, make_producer
from tierline_shared.unit_of_work import current, outbox_channel, outbox_row

log = logging.getLogger(__name__)

RELAY_PRODUCER_BATCH_BYTES = 256 * 1024


async def enqueue(session: AsyncSession, outbox: Table, topic: str, envelope: Envelope) -> None:
    """Add ``envelope`` to the outbox inside the caller's transaction: to its unit of work's
    buffer (written with the others at commit) when it has one, else at once."""
    uow = current(session)
    if uow is not None:
        uow.emit(topic, envelope)
        return
    await session.execute(insert(outbox).values(outbox_row(topic, envelope)))


async def backoff_pause(stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds`` or until ``stopping`` is set (a seam the tests replace)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


class OutboxRelay:
    """Publishes one schema's outbox from a connection of its own, while it leads.

    Leadership is a session-level advisory lock on that connection, held across cycles: a
    replica that does not hold it tries again every poll interval (without listening, so
    other replicas' commits cost it nothing), and takes over within a poll interval of the
    leader's connection going away, when PostgreSQL releases the lock. The leader listens
    on :func:`outbox_channel`, so a commit on any replica wakes it, as :meth:`notify` does
    in process. A cycle is one transaction: ``DELETE ... RETURNING`` the oldest rows, send
    them all, await the acknowledgements together, then commit; any failure rolls back, and
    the rows stay for the next try.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        engine: AsyncEngine,
        outbox: Table,
        bootstrap_servers: Target,  # an address, or a KafkaClient with TLS/SASL
        topics: list[str],
        partitions: int,
        replication_factor: int,
        poll_interval_s: float = 0.5,
        batch_size: int = 500,
    ) -> None:
        self._sessions = sessions
        self._engine = engine
        self._outbox = outbox
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._lock_key = zlib.crc32(f"outbox:{outbox.schema}".encode())
        self._channel = outbox_channel(outbox)
        # Rows leave in id order: the oldest ``batch_size``, deleted and returned at once.
        oldest = select(outbox.c.id).order_by(outbox.c.id).limit(batch_size)
        self._take = delete(outbox).where(outbox.c.id.in_(oldest)).returning(
            outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.headers, outbox.c.value)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._conn: AsyncConnection | None = None
        self._listening: Any = None  # the asyncpg connection LISTENing, while leading
        self._yield_until = 0.0  # after losing its connection: no lock before this time
        self.published = 0

    @property
    def leading(self) -> bool:
        """Whether this relay holds its schema's lock (as far as it knows)."""
        return self._listening is not None

    @property
    def connected(self) -> bool:
        """The relay holds a started producer (it drops it on a broker error)."""
        return self._producer is not None

    def notify(self) -> None:
        """Wake the relay now rather than at its next poll; call after a commit."""
        self._wake.set()

    async def pending(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(self._outbox)) or 0)

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                await self._connect()
                self._wake.clear()  # a commit from here on is seen by this cycle or wakes the next
                sent = await self.publish_batch()
                backoff = 0.2
                if not self.leading:
                    await self._pause(self._poll_interval_s)  # commits do not wake a follower
                elif sent < self._batch_size:
                    await self._sleep(self._poll_interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: keep the rows, try again
                log.warning("outbox relay failed; retrying", extra={"error": repr(exc),
                                                                    "retry_in_s": backoff})
                await self._close_producer()
                await self._recover_connection()
                # Only a stop cuts the backoff short, not a commit's notify(): while the
                # broker is away every accepted ticket notifies, and the relay would
                # reconnect at the request rate instead of backing off.
                await self._pause(backoff)
                backoff = min(backoff * 2, 5.0)
        await self._close_producer()
        await self._release_connection()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def publish_batch(self) -> int:
        """Publish one batch if this relay leads (taking the lead if it is free); rows are
        deleted only once the broker acknowledged them."""
        assert self._producer is not None
        if not await self._lead():
            return 0
        conn = self._conn
        assert conn is not None
        async with conn.begin():
            rows = sorted((await conn.execute(self._take)).all(), key=lambda row: row.id)
            if rows:
                futures = [
                    await self._producer.send(
                        row.topic,
                        key=row.key,
                        value=row.value,
                        headers=[(name, value.encode()) for name, value in row.headers],
                    )
                    for row in rows
                ]
                await asyncio.gather(*futures)
        self.published += len(rows)
        return len(rows)

    async def _lead(self) -> bool:
        """Hold the relay's own connection and, if it is free, the schema's lock."""
        if self._conn is None:
            self._conn = await self._engine.connect()
        if self.leading:
            return True
        if time.monotonic() < self._yield_until:
            return False
        async with self._conn.begin():  # a session-level lock outlives this transaction
            locked = await self._conn.scalar(select(func.pg_try_advisory_lock(self._lock_key)))
        if locked:
            # LISTEN outside a transaction, so it holds from now on; rows committed
            # before it are taken by the cycle that follows at once.
            raw = (await self._conn.get_raw_connection()).driver_connection
            await raw.add_listener(self._channel, self._on_notification)
            # A lost connection wakes the relay too, so it gives up the lead at once.
            raw.add_termination_listener(self._on_notification)
            self._listening = raw
            log.info("outbox relay leads", extra={"schema": self._outbox.schema})
        return bool(locked)

    def _on_notification(self, *args: object) -> None:
        self._wake.set()

    async def _recover_connection(self) -> None:
        """After a failure: keep the connection (and the lead) if it still answers."""
        conn = self._conn
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
            if not conn.invalidated and not self._connection_closed():
                return
        except Exception as exc:
            log.info("outbox relay connection lost", extra={"error": repr(exc)})
        await self._release_connection()

    def _connection_closed(self) -> bool:
        return self._listening is not None and bool(self._listening.is_closed())

    async def _release_connection(self) -> None:
        """Close the connection rather than return it to the pool, where it would still
        hold the lock and the LISTEN; PostgreSQL releases both when the session ends.

        A leader that lost its connection leaves the lock to the other replicas for two
        poll intervals: one of them, whose connection is well, takes it first."""
        if self.leading:
            self._yield_until = time.monotonic() + 2 * self._poll_interval_s
        conn, self._conn, self._listening = self._conn, None, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.invalidate()
        with contextlib.suppress(Exception):
            await conn.close()

    async def _connect(self) -> None:
        if self._producer is not None:
            return
        await ensure_topics(self._bootstrap, self._topics, partitions=self._partitions,
                            replication_factor=self._replication_factor)
        # A relay batch (up to 500 rows of ~0.5 kB) fits in a few partition batches of this
        # size rather than dozens of 16 kB ones. No linger: it added its few ms to every
        # small batch and did not speed up large ones (README, "The outbox relay").
        producer = make_producer(self._bootstrap, max_batch_size=RELAY_PRODUCER_BATCH_BYTES)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await producer.stop()

    async def _sleep(self, seconds: float) -> None:
        """Until a commit wakes the relay, a stop, or ``seconds`` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _pause(self, seconds: float) -> None:
        """Until a stop or ``seconds`` pass; commits do not cut it short."""
        await backoff_pause(self._stopping, seconds)
