"""At-least-once consumer with exactly-once effects, a fetched batch at a time.

Each fetched batch is decoded, its duplicates dropped with one inbox statement (the event ids
already recorded are skipped), and the new events handed to the service's handlers, grouped
by handler and in per-key order, inside one unit of work: one transaction per batch. Offsets
are committed only after it commits. A message that fails validation goes to the dead-letter
topic at once; when a batch fails for a reason that is not an outage, it is rolled back and
applied again in halves, down to the one event that keeps failing, which is retried
``max_attempts`` times and then dead-lettered with its error; every other event of the batch
is applied once. An outage (database or broker away) is never a poison message: the loop
reconnects and reads again from the committed offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Table, column, select, values
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.types import Text

from tierline_shared.bus.envelope import Envelope, InvalidMessage, decode
from tierline_shared.bus.events import EVENT_TYPES
from tierline_shared.bus.handlers import Delivered, Handlers
from tierline_shared.bus.kafka import Target, ensure_topics, make_consumer, make_producer
from tierline_shared.bus.lag import ConsumerLag
from tierline_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
# Tries of one batch that PostgreSQL aborted for a conflict before it counts as failing.
_CONFLICT_RETRIES = 5

Transaction = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


@dataclass
class _Item:
    record: ConsumerRecord[Any, Any]
    delivered: Delivered[Any]


class ConsumerLoop:
    def __init__(
        self,
        *,
        name: str,
        group_id: str,
        topics: list[str],
        handlers: Handlers,
        transaction: Transaction,
        inbox: Table,
        bootstrap_servers: Target,  # an address, or a KafkaClient with TLS/SASL
        deadletter_topic: str,
        all_topics: list[str],
        partitions: int,
        replication_factor: int,
        registry: CollectorRegistry,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        fetch_max_wait_ms: int = 50,
    ) -> None:
        self.name = name
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._group_id = group_id
        self._topics = topics
        self._handlers = handlers
        self._transaction = transaction
        self._inbox = inbox
        self._bootstrap = bootstrap_servers
        self._deadletter = deadletter_topic
        self._all_topics = all_topics
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._max_attempts = max_attempts
        self._retry_backoff_s = retry_backoff_s
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
            await self.process(
                [record for records in batch.values() for record in records])
            offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
            try:
                await self._consumer.commit(offsets)
            except CommitFailedError as exc:
                # The group rebalanced; the new owner re-reads and the inbox skips what we did.
                log.warning("offset commit failed after rebalance",
                            extra={"consumer": self.name, "error": str(exc)})

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Apply ``records`` (one fetched batch, in the order read): decode them, dead-letter
        the invalid ones, skip the types this service does not handle, and apply the rest in
        one unit of work."""
        items: list[_Item] = []
        for record in records:
            headers = list(record.headers or ())
            ce_type = next((v.decode(errors="replace") for k, v in headers if k == "ce_type"),
                           None)
            if ce_type is not None and not self._handlers.handles(ce_type) \
                    and _is_known(ce_type):
                self._outcomes.labels(self.name, record.topic, ce_type, "ignored").inc()
                continue
            try:
                envelope = decode(headers, record.value)
            except InvalidMessage as exc:
                await self._dead_letter(record, f"invalid: {exc}", attempts=0)
                continue
            items.append(_Item(record, Delivered(envelope, record.topic, record.value)))
        if items:
            await self._apply_or_split(items)

    async def _apply_or_split(self, items: list[_Item]) -> None:
        """Apply ``items`` in one transaction; if that fails for a reason that is not an
        outage, apply each half on its own, down to the single event that fails."""
        if len(items) == 1:
            await self._apply_one(items[0])
            return
        try:
            await self._apply_settled(items)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.info("batch failed; applying it in halves", extra={
                "consumer": self.name, "events": len(items), "error": repr(exc)})
            middle = len(items) // 2
            await self._apply_or_split(items[:middle])
            await self._apply_or_split(items[middle:])

    async def _apply_one(self, item: _Item) -> None:
        envelope = item.delivered.envelope
        extra = {"consumer": self.name, "event_id": str(envelope.id),
                 "event_type": envelope.type, "ticket_id": envelope.subject}
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._apply_settled([item])
                return
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.warning("handler failed", exc_info=True,
                            extra={**extra, "attempt": attempt, "error": repr(exc)})
                if attempt == self._max_attempts:
                    await self._dead_letter(item.record, f"failed: {exc!r}", attempts=attempt)
                    return
                await asyncio.sleep(self._retry_backoff_s * attempt)

    async def _apply_settled(self, items: list[_Item]) -> None:
        """:meth:`_apply`, again after a pause when PostgreSQL aborted it for a conflict with
        another transaction (a deadlock with a job, a serialization failure): that is no
        event's fault, so it neither splits the batch nor uses up an event's attempts."""
        for attempt in range(1, _CONFLICT_RETRIES + 1):
            try:
                await self._apply(items)
                return
            except Exception as exc:
                if not is_conflict(exc) or attempt == _CONFLICT_RETRIES:
                    raise
                log.info("batch conflicted with another transaction; applying it again",
                         extra={"consumer": self.name, "events": len(items),
                                "error": repr(exc), "attempt": attempt})
                await asyncio.sleep(self._retry_backoff_s * attempt)

    async def _apply(self, items: list[_Item]) -> None:
        """One transaction: record the ids not seen before (one statement), apply those
        events, count the outcomes once it committed."""
        unique: dict[Any, _Item] = {}
        for item in items:
            unique.setdefault(item.delivered.envelope.id, item)
        async with self._transaction() as uow:
            new = await record_new(uow, self._inbox,
                                   [i.delivered.envelope for i in unique.values()],
                                   [i.record.topic for i in unique.values()])
            fresh = [item for event_id, item in unique.items() if event_id in new]
            await self._handlers.apply(uow, [item.delivered for item in fresh])
        applied = {id(item) for item in fresh}
        for item in items:
            outcome = "applied" if id(item) in applied else "duplicate"
            self._outcomes.labels(self.name, item.record.topic, item.delivered.envelope.type,
                                  outcome).inc()
        log.debug("batch applied", extra={"consumer": self.name, "events": len(items),
                                          "applied": len(fresh)})

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


async def record_new(uow: UnitOfWork, inbox: Table, envelopes: Sequence[Envelope],
                     topics: Sequence[str]) -> set[Any]:
    """Insert the batch's event ids into the inbox in one statement; the ids it returns are
    the events not applied before."""
    if not envelopes:
        return set()
    rows = values(column("event_id", PG_UUID(as_uuid=True)), column("event_type", Text),
                  column("topic", Text), name="batch").data(
        [(e.id, e.type, topic) for e, topic in zip(envelopes, topics, strict=True)])
    statement = (pg_insert(inbox)
                 .from_select(["event_id", "event_type", "topic"], select(rows))
                 .on_conflict_do_nothing().returning(inbox.c.event_id))
    return set((await uow.session.scalars(statement)).all())


def _is_known(ce_type: str) -> bool:
    return ce_type in EVENT_TYPES


def is_conflict(exc: BaseException) -> bool:
    """PostgreSQL rolled the transaction back for a conflict with another one (SQLSTATE
    40001 serialization failure, 40P01 deadlock): the same work succeeds when tried again."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and sqlstate in ("40001", "40P01")


def is_transient(exc: BaseException) -> bool:
    """An outage, not a poison message: retry without dead-lettering or committing."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError | PoolTimeout):
        return True  # PoolTimeout: no pooled connection came free in time (overload)
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
