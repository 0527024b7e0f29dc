"""Rebuild metrics' read models: empty every table built from events, then replay every
topic metrics consumes from its first offset to its end. The replay folds the whole history
in memory with the live consumer's fold (``fold``) and copies the result in with ``COPY``,
in the same transaction as the emptying: a failed rebuild leaves the read models as they
were. The inbox gets every replayed event id, so metrics, started again, goes on from its
committed offsets and skips what the replay did. Run it with metrics stopped.

Should the copy fail (a row a table refuses), the rebuild falls back to applying the replay
a batch at a time through the live handlers, event by event where a batch fails, leaving out
only the events that fail, as the live consumer would have dead-lettered them.

Tables metrics is the system of record for (QA evaluations, ESAT answers, scheduled
shifts), the voice-of-the-customer signals it already published, and its outbox are kept.
Kafka must keep the topics' whole history (retention ``-1``) for a rebuild to see every
event.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.schema import CreateIndex

from tierline_metrics import models
from tierline_metrics.events import split
from tierline_metrics.events.bulk import Copier, write_folded
from tierline_shared.audit import Actor
from tierline_shared.bus.consumer import is_transient, record_new
from tierline_shared.bus.envelope import InvalidMessage, decode
from tierline_shared.bus.handlers import Delivered, Handlers
from tierline_shared.bus.kafka import KafkaClient, ensure_topics, make_consumer
from tierline_shared.bus.topics import Topics
from tierline_shared.db import make_engine, make_sessionmaker
from tierline_shared.settings import Settings
from tierline_shared.unit_of_work import transaction

log = logging.getLogger(__name__)

REBUILT = (models.ticket_facts, models.ticket_log, models.sla_events, models.escalations,
           models.major_incidents, models.problems, models.presence_log, models.inbox,
           models.counter_totals)


@dataclass
class Replayed:
    applied: int = 0
    skipped: int = 0  # not for metrics, a duplicate, or not valid (dead-lettered when live)
    failed: list[str] = field(default_factory=list)


async def rebuild(settings: Settings, timeout_s: float = 600,
                  workers: int | None = None) -> Replayed:
    """Rebuild the read models; ``workers`` replay processes (default: one per partition, up
    to two per core; 1 replays in this process)."""
    from tierline_metrics.app import SPEC

    engine = make_engine(settings.database_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    handlers = SPEC.handlers(None)
    try:
        outcome = Replayed()
        # The fold keeps the whole history in memory as it grows; the cyclic collector
        # would walk it again and again (about three quarters of the replay's time, on
        # 100,000 events) for no cycle to find. Reference counting still frees the rest.
        collecting = gc.isenabled()
        gc.disable()
        try:
            copied = await _copy_in(settings, sessions, handlers,
                                    SPEC.consumes(Topics(settings.topic_prefix)), outcome,
                                    timeout_s, workers)
        finally:
            if collecting:
                gc.enable()
        if not copied:
            outcome = Replayed()
            async with engine.begin() as conn:
                await _truncate(conn)
            async for records in _replay(
                    settings, SPEC.consumes(Topics(settings.topic_prefix)), timeout_s):
                await _apply_batch(sessions, handlers, records, outcome)
    finally:
        await engine.dispose()
    log.info("read models rebuilt", extra={"applied": outcome.applied,
                                           "skipped": outcome.skipped,
                                           "failed": len(outcome.failed)})
    return outcome


async def _copy_in(settings: Settings, sessions: async_sessionmaker[AsyncSession],
                   handlers: Handlers, topics: list[str], outcome: Replayed,
                   timeout_s: float, workers: int | None) -> bool:
    """Empty the read models and copy the replay in, in one transaction; False if a table
    refused a row (nothing changed then)."""
    counts = await _partition_counts(settings, topics)
    if workers is None:
        workers = split.default_workers(os.cpu_count(), max(counts.values(), default=1))
    numbers = split.plan(counts, workers)
    forked = None
    try:
        if numbers is not None:  # before the transaction: a child inherits no connection in use
            forked = split.Workers(numbers, functools.partial(_replay, settings, topics,
                                                              timeout_s), handlers)
        async with transaction(sessions, outbox=models.outbox,
                               actor=Actor.system("metrics")) as uow:
            await _truncate(uow.session)
            indexes = [i for t in REBUILT for i in sorted(t.indexes, key=lambda i: i.name or "")]
            for index in indexes:  # built again at the end: one sort, not a random insert per row
                await uow.session.execute(text(f"DROP INDEX {models.SCHEMA}.{index.name}"))
            if forked is not None:
                connection = await uow.session.connection()
                raw = (await connection.get_raw_connection()).driver_connection
                whole = await split.copy_in(raw, forked)
                outcome.applied += whole.applied
                outcome.skipped += whole.skipped
                await write_folded(raw, whole.fold, whole.rewrites, handlers, uow,
                                   whole.facts, whole.totals)
            else:
                copier = Copier(handlers, uow)
                try:
                    async for records in _replay(settings, topics, timeout_s):
                        await copier.add(records, outcome)
                    await copier.write()
                finally:
                    await copier.close()
            for index in indexes:
                await uow.session.execute(CreateIndex(index))
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("copying the replay failed; applying it batch by batch",
                    extra={"error": repr(exc)})
        return False
    finally:
        if forked is not None:
            forked.stop()
    return True


async def _partition_counts(settings: Settings, topics: list[str]) -> dict[str, int]:
    """Each topic's partition count (the topics created first if missing)."""
    kafka = KafkaClient.from_settings(
        settings, Topics(settings.topic_prefix).configs(settings.min_insync_replicas))
    await ensure_topics(kafka, topics, partitions=settings.topic_partitions,
                        replication_factor=settings.topic_replication_factor)
    consumer = make_consumer(kafka, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        return {t: len(consumer.partitions_for_topic(t) or ()) for t in topics}
    finally:
        await consumer.stop()


async def _truncate(conn: Any) -> None:
    """Empty the rebuilt tables; the counter totals start again from the signals kept."""
    names = ", ".join(f"{models.SCHEMA}.{t.name}" for t in REBUILT)
    await conn.execute(text(f"TRUNCATE {names}"))
    await conn.execute(text(
        f"INSERT INTO {models.SCHEMA}.counter_totals (name, a, b, value) "
        f"SELECT 'voc_signals', kind, '', count(*) FROM {models.SCHEMA}.voc_signals "
        "GROUP BY kind"))


async def _replay(settings: Settings, topics: list[str], timeout_s: float,
                  numbers: set[int] | None = None
                  ) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """Every record of ``topics`` (of their partitions ``numbers``, default all) up to their
    end offsets now, a fetched batch at a time."""
    kafka = KafkaClient.from_settings(
        settings, Topics(settings.topic_prefix).configs(settings.min_insync_replicas))
    if numbers is None:
        await ensure_topics(kafka, topics, partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication_factor)
    consumer = make_consumer(kafka, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()  # fetch metadata for every topic
        partitions = [TopicPartition(t, p) for t in topics
                      for p in sorted(consumer.partitions_for_topic(t) or ())
                      if numbers is None or p in numbers]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"replay not finished within {timeout_s} s")
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp in batch:
                # The end a fetch reports: the embedded broker's ListOffsets answers the
                # base offset of the last record batch + 1, short of the records batched
                # with it; a fetch's high watermark is right on every broker.
                ends[tp] = max(ends[tp], consumer.highwater(tp) or 0)
            yield [record for tp, records in batch.items()
                   for record in records if record.offset < ends[tp]]
    finally:
        await consumer.stop()


async def _apply_batch(sessions: async_sessionmaker[AsyncSession], handlers: Handlers,
                       records: list[ConsumerRecord[bytes, bytes]], outcome: Replayed) -> None:
    """A batch in one transaction (one commit, not one per event); if any event of it fails,
    the batch is rolled back and applied again one event per transaction, so only the
    failing events are left out, as the live consumer would have dead-lettered them."""
    if not records:
        return
    done = Replayed()
    try:
        await _apply_in(sessions, handlers, records, done)
    except Exception:
        for record in records:
            try:
                await _apply_in(sessions, handlers, [record], outcome)
            except Exception as exc:  # the live consumer dead-lettered it too
                outcome.failed.append(
                    f"{record.topic}/{record.partition}@{record.offset}: {exc!r}")
        return
    outcome.applied += done.applied
    outcome.skipped += done.skipped


async def _apply_in(sessions: async_sessionmaker[AsyncSession], handlers: Handlers,
                    records: list[ConsumerRecord[bytes, bytes]], outcome: Replayed) -> None:
    """Apply ``records`` in one transaction; those not for metrics, invalid or duplicates
    are skipped."""
    fresh: dict[Any, Delivered[Any]] = {}
    topics: dict[Any, str] = {}
    for record in records:
        try:
            envelope = decode(list(record.headers or ()), record.value)
        except InvalidMessage:
            continue
        if handlers.handles(envelope.type):
            fresh.setdefault(envelope.id, Delivered(envelope, record.topic))
            topics[envelope.id] = record.topic
    async with transaction(sessions, outbox=models.outbox,
                           actor=Actor.system("metrics")) as uow:
        new = await record_new(uow, models.inbox, [d.envelope for d in fresh.values()],
                               [d.topic for d in fresh.values()])
        events = [d for event_id, d in fresh.items() if event_id in new]
        await handlers.apply(uow, events)
        if uow.emitted:
            raise RuntimeError("a replay publishes nothing")
    outcome.applied += len(events)
    outcome.skipped += len(records) - len(events)


def main(settings: Settings, workers: int | None = None) -> int:
    outcome = asyncio.run(rebuild(settings, workers=workers))
    print(f"replayed: {outcome.applied} applied, {outcome.skipped} skipped, "
          f"{len(outcome.failed)} failed")
    for failure in outcome.failed:
        print(f"  failed: {failure}")
    return 1 if outcome.failed else 0
