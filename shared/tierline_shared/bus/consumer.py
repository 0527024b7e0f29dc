"""At-least-once consumer with exactly-once effects.

Each message is validated, then handled inside one database transaction that also records
its event id; a duplicate id means the effect already happened and the message is skipped.
Offsets are committed only after those transactions commit. A message that fails
validation, or fails processing ``max_attempts`` times, goes to the dead-letter topic with
its error, and the loop moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tierline_shared.bus.envelope import Envelope, InvalidMessage, decode
from tierline_shared.bus.events import EVENT_TYPES
from tierline_shared.bus.kafka import Target, ensure_topics, make_consumer, make_producer
from tierline_shared.bus.lag import ConsumerLag

log = logging.getLogger(__name__)


@dataclass
class HandlerContext:
    """What a handler gets besides the session: the envelope and a way to emit events."""

    session: AsyncSession
    envelope: Envelope
    emit: Callable[[str, Envelope], Awaitable[None]]


Handler = Callable[[HandlerContext], Awaitable[None]]


class ConsumerLoop:
    def __init__(
        self,
        *,
        name: str,
        group_id: str,
        topics: list[str],
        handlers: Mapping[str, Handler],
        sessions: async_sessionmaker[AsyncSession],
        inbox: Table,
        emit: Callable[[AsyncSession, str, Envelope], Awaitable[None]],
        bootstrap_servers: Target,  # an address, or a KafkaClient with TLS/SASL
        deadletter_topic: str,
        all_topics: list[str],
        partitions: int,
        replication_factor: int,
        registry: CollectorRegistry,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        after_commit: Callable[[], None] | None = None,
        fetch_max_wait_ms: int = 50,
    ) -> None:
        self.name = name
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._group_id = group_id
        self._topics = topics
        self._handlers = dict(handlers)
        self._sessions = sessions
        self._inbox = inbox
        self._emit = emit
        self._bootstrap = bootstrap_servers
        self._deadletter = deadletter_topic
        self._all_topics = all_topics
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._max_attempts = max_attempts
        self._retry_backoff_s = retry_backoff_s
        self._after_commit = after_commit
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq_producer: AIOKafkaProducer | None = None
        self.running = False
        self._outcomes = Counter(
            "tierline_events_consumed",
            "Messages consumed, by topic, event type and outcome.",
            ["consumer", "topic", "type", "outcome"],
            registry=registry,
        )
        self.lag = ConsumerLag(name, registry)

    async def run(self) -> None:
        lag = asyncio.create_task(self.lag.run(lambda: self._consumer, self._stopping))
        try:
            await self._run()
        finally:
            lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag
            self.lag.clear()

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                await self._connect()
                self.running = True
                backoff = 0.2
                await self._poll_forever()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer failed; reconnecting", extra={
                    "consumer": self.name, "error": repr(exc), "retry_in_s": backoff})
                self.running = False
                await self._close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
        self.running = False
        await self._close()

    async def stop(self) -> None:
        self._stopping.set()

    async def _connect(self) -> None:
        if self._consumer is not None:
            return
        await ensure_topics(self._bootstrap, self._all_topics, partitions=self._partitions,
                            replication_factor=self._replication_factor)
        consumer = make_consumer(
            self._bootstrap,
            *self._topics,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            fetch_max_wait_ms=self._fetch_max_wait_ms,
        )
        producer = make_producer(self._bootstrap)
        try:
            await consumer.start()
            await producer.start()
        except BaseException:
            await consumer.stop()
            await producer.stop()
            raise
        self._consumer, self._dlq_producer = consumer, producer

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        producer, self._dlq_producer = self._dlq_producer, None
        for client in (consumer, producer):
            if client is not None:
                with contextlib.suppress(KafkaError, OSError):
                    await client.stop()

    async def _poll_forever(self) -> None:
        assert self._consumer is not None
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(timeout_ms=500, max_records=500)
            if not batch:
                continue
            offsets: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                for record in records:
                    await self._process(record)
                    offsets[tp] = record.offset + 1
            try:
                await self._consumer.commit(offsets)
            except CommitFailedError as exc:
                # The group rebalanced; the new owner re-reads and the inbox skips what we did.
                log.warning("offset commit failed after rebalance",
                            extra={"consumer": self.name, "error": str(exc)})
            if self._after_commit is not None:
                self._after_commit()

    async def _process(self, record: ConsumerRecord[Any, Any]) -> None:
        headers = list(record.headers or ())
        ce_type = next((v.decode(errors="replace") for k, v in headers if k == "ce_type"), None)
        if ce_type is not None and ce_type not in self._handlers and _is_known(ce_type):
            self._outcomes.labels(self.name, record.topic, ce_type, "ignored").inc()
            return
        try:
            envelope = decode(headers, record.value)
        except InvalidMessage as exc:
            await self._dead_letter(record, f"invalid: {exc}", attempts=0)
            return
        handler = self._handlers[envelope.type]
        extra = {"consumer": self.name, "event_id": str(envelope.id),
                 "event_type": envelope.type, "ticket_id": envelope.subject}
        for attempt in range(1, self._max_attempts + 1):
            try:
                applied = await self._apply(record, envelope, handler)
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.warning("handler failed", exc_info=True,
                            extra={**extra, "attempt": attempt, "error": repr(exc)})
                if attempt == self._max_attempts:
                    await self._dead_letter(record, f"failed: {exc!r}", attempts=attempt)
                    return
                await asyncio.sleep(self._retry_backoff_s * attempt)
                continue
            outcome = "applied" if applied else "duplicate"
            self._outcomes.labels(self.name, record.topic, envelope.type, outcome).inc()
            log.debug("event %s", outcome, extra=extra)
            return

    async def _apply(self, record: ConsumerRecord[Any, Any], envelope: Envelope,
                     handler: Handler) -> bool:
        async with self._sessions() as session, session.begin():
            inserted = await session.scalar(
                pg_insert(self._inbox)
                .values(event_id=envelope.id, event_type=envelope.type, topic=record.topic)
                .on_conflict_do_nothing()
                .returning(self._inbox.c.event_id)
            )
            if inserted is None:
                return False

            async def emit(topic: str, out: Envelope) -> None:
                await self._emit(session, topic, out)

            await handler(HandlerContext(session=session, envelope=envelope, emit=emit))
        return True

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], error: str,
                           attempts: int) -> None:
        assert self._dlq_producer is not None
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")]
        headers += [
            ("dlq_error", error[:4000].encode()),
            ("dlq_consumer", self.name.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_attempts", str(attempts).encode()),
        ]
        await self._dlq_producer.send_and_wait(
            self._deadletter, key=record.key, value=record.value, headers=headers
        )
        ce_type = next((v.decode(errors="replace") for k, v in headers if k == "ce_type"), "")
        label = ce_type if _is_known(ce_type) else "unknown"
        self._outcomes.labels(self.name, record.topic, label, "dead_lettered").inc()
        log.error("message dead-lettered",
                  extra={"consumer": self.name, "topic": record.topic,
                         "partition": record.partition, "offset": record.offset, "error": error})


def _is_known(ce_type: str) -> bool:
    return ce_type in EVENT_TYPES


def is_transient(exc: BaseException) -> bool:
    """An outage, not a poison message: retry without dead-lettering or committing."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
