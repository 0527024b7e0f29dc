"""Small test helpers: polling, and reading topics on the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float = 15,
                     interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


async def read_topic(bootstrap: str, topic: str,
                     until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
                     timeout: float = 15) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` from the beginning (no consumer group) until ``until(records)``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            if until(records):
                return records
        raise AssertionError(f"{topic}: expected records not seen within {timeout}s; "
                             f"got {len(records)}")
    finally:
        await consumer.stop()


Message = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


async def produce(bootstrap: str, topic: str, messages: list[Message]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, key=key, value=value, headers=headers)
    finally:
        await producer.stop()


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode()
    return None
