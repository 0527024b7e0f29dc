"""Rebuild metrics' read models: empty every table built from events, then replay every
topic metrics consumes from its first offset to its end through the same handlers (and the
same inbox, so a replayed event is applied once). Run it with metrics stopped; started
again, metrics goes on from its committed offsets and its inbox skips what the replay did.

Tables metrics is the system of record for (QA evaluations, ESAT answers, scheduled
shifts), the voice-of-the-customer signals it already published, and its outbox are kept.
Kafka must keep the topics' whole history (retention ``-1``) for a rebuild to see every
event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord, TopicPartition
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tierline_metrics import models
from tierline_shared.bus.consumer import Handler, HandlerContext
from tierline_shared.bus.envelope import Envelope, InvalidMessage, decode
from tierline_shared.bus.kafka import KafkaClient, ensure_topics, make_consumer
from tierline_shared.bus.topics import Topics
from tierline_shared.db import make_engine, make_sessionmaker
from tierline_shared.settings import Settings

log = logging.getLogger(__name__)

REBUILT = (models.ticket_facts, models.ticket_log, models.sla_events, models.escalations,
           models.major_incidents, models.problems, models.presence_log, models.inbox)


@dataclass
class Replayed:
    applied: int = 0
    skipped: int = 0  # not for metrics, a duplicate, or not valid (dead-lettered when live)
    failed: list[str] = field(default_factory=list)


async def rebuild(settings: Settings, timeout_s: float = 600) -> Replayed:
    from tierline_metrics.app import SPEC

    engine = make_engine(settings.database_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    topics = SPEC.consumes(Topics(settings.topic_prefix))
    outcome = Replayed()
    all_topics = Topics(settings.topic_prefix)
    kafka = KafkaClient.from_settings(settings, all_topics.configs(settings.min_insync_replicas))
    consumer = make_consumer(kafka, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        async with engine.begin() as conn:
            names = ", ".join(f"{models.SCHEMA}.{t.name}" for t in REBUILT)
            await conn.execute(text(f"TRUNCATE {names}"))
        await ensure_topics(kafka, topics,
                            partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication_factor)
        await consumer.start()
        await consumer.topics()  # fetch metadata for every topic
        partitions = [TopicPartition(t, p) for t in topics
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        handlers = SPEC.handlers(None)  # type: ignore[arg-type]
        deadline = time.monotonic() + timeout_s
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"replay not finished within {timeout_s} s")
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            await _apply_batch(sessions, handlers, [
                record for tp, records in batch.items()
                for record in records if record.offset < ends[tp]], outcome)
    finally:
        await consumer.stop()
        await engine.dispose()
    log.info("read models rebuilt", extra={"applied": outcome.applied,
                                           "skipped": outcome.skipped,
                                           "failed": len(outcome.failed)})
    return outcome


async def _apply_batch(sessions: async_sessionmaker[AsyncSession],
                       handlers: Mapping[str, Handler],
                       records: list[ConsumerRecord[bytes, bytes]], outcome: Replayed) -> None:
    """A batch in one transaction (one commit, not one per event); if any event of it fails,
    the batch is rolled back and applied again one event per transaction, so only the
    failing events are left out, as the live consumer would have dead-lettered them."""
    if not records:
        return
    done = Replayed()
    try:
        async with sessions() as session, session.begin():
            for record in records:
                if await _apply_in(session, handlers, record):
                    done.applied += 1
                else:
                    done.skipped += 1
    except Exception:
        for record in records:
            await _apply(sessions, handlers, record, outcome)
        return
    outcome.applied += done.applied
    outcome.skipped += done.skipped


async def _apply(sessions: async_sessionmaker[AsyncSession], handlers: Mapping[str, Handler],
                 record: ConsumerRecord[bytes, bytes], outcome: Replayed) -> None:
    try:
        async with sessions() as session, session.begin():
            applied = await _apply_in(session, handlers, record)
    except Exception as exc:  # the live consumer dead-lettered it too
        outcome.failed.append(f"{record.topic}/{record.partition}@{record.offset}: {exc!r}")
        return
    if applied:
        outcome.applied += 1
    else:
        outcome.skipped += 1


async def _apply_in(session: AsyncSession, handlers: Mapping[str, Handler],
                    record: ConsumerRecord[bytes, bytes]) -> bool:
    """Apply one record in ``session``; False if it is not for metrics, invalid or a
    duplicate (skipped)."""
    try:
        envelope = decode(list(record.headers or ()), record.value)
    except InvalidMessage:
        return False
    handler = handlers.get(envelope.type)
    if handler is None:
        return False
    inserted = await session.scalar(
        pg_insert(models.inbox)
        .values(event_id=envelope.id, event_type=envelope.type, topic=record.topic)
        .on_conflict_do_nothing().returning(models.inbox.c.event_id))
    if inserted is None:
        return False
    await handler(HandlerContext(session=session, envelope=envelope, emit=_no_emit))
    return True


async def _no_emit(topic: str, envelope: Envelope) -> None:
    raise RuntimeError("a replay publishes nothing")


def main(settings: Settings) -> int:
    outcome = asyncio.run(rebuild(settings))
    print(f"replayed: {outcome.applied} applied, {outcome.skipped} skipped, "
          f"{len(outcome.failed)} failed")
    for failure in outcome.failed:
        print(f"  failed: {failure}")
    return 1 if outcome.failed else 0
