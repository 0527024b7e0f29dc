"""Transactional outbox: events are rows written with the state change; a relay publishes them.

Only one relay per schema publishes at a time (a transaction-scoped advisory lock), so
events for one ticket leave in the order they were written, even with several replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.kafka import Target, ensure_topics, make_producer

log = logging.getLogger(__name__)


async def enqueue(session: AsyncSession, outbox: Table, topic: str, envelope: Envelope) -> None:
    """Add ``envelope`` to the outbox inside the caller's transaction."""
    await session.execute(
        insert(outbox).values(
            event_id=envelope.id,
            topic=topic,
            key=envelope.key,
            headers=[[name, value.decode()] for name, value in envelope.headers()],
            value=envelope.body(),
        )
    )


async def backoff_pause(stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds`` or until ``stopping`` is set (a seam the tests replace)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


class OutboxRelay:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        bootstrap_servers: Target,  # an address, or a KafkaClient with TLS/SASL
        topics: list[str],
        partitions: int,
        replication_factor: int,
        poll_interval_s: float = 0.5,
        batch_size: int = 500,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._lock_key = zlib.crc32(f"outbox:{outbox.schema}".encode())
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self.published = 0

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
                sent = await self.publish_batch()
                backoff = 0.2
                if sent < self._batch_size:
                    await self._sleep(self._poll_interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: keep the rows, try again
                log.warning("outbox relay failed; retrying", extra={"error": repr(exc),
                                                                    "retry_in_s": backoff})
                await self._close_producer()
                # Only a stop cuts the backoff short, not a commit's notify(): while the
                # broker is away every accepted ticket notifies, and the relay would
                # reconnect at the request rate instead of backing off.
                await backoff_pause(self._stopping, backoff)
                backoff = min(backoff * 2, 5.0)
        await self._close_producer()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def publish_batch(self) -> int:
        """Publish one batch; rows are deleted only once the broker acknowledged them."""
        assert self._producer is not None
        async with self._sessions() as session, session.begin():
            locked = await session.scalar(select(func.pg_try_advisory_xact_lock(self._lock_key)))
            if not locked:
                return 0
            rows = (
                await session.execute(
                    select(self._outbox).order_by(self._outbox.c.id).limit(self._batch_size)
                )
            ).all()
            if not rows:
                return 0
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
            await session.execute(
                delete(self._outbox).where(self._outbox.c.id.in_([row.id for row in rows]))
            )
        self.published += len(rows)
        return len(rows)

    async def _connect(self) -> None:
        if self._producer is not None:
            return
        await ensure_topics(self._bootstrap, self._topics, partitions=self._partitions,
                            replication_factor=self._replication_factor)
        producer = make_producer(self._bootstrap)
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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()
