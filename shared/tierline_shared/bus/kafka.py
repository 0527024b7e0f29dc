"""Connecting to the broker: topic creation and a producer that survives broker outages."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(
    bootstrap_servers: str, names: list[str], *, partitions: int, replication_factor: int
) -> None:
    """Create the topics that do not exist yet; an existing topic is left as it is."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
             for name in names]
        )
        for name, code, message in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise KafkaError(f"creating topic {name} failed: {code} {message}")
    finally:
        await admin.close()


def make_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=0,
        request_timeout_ms=10000,
        retry_backoff_ms=200,
    )
