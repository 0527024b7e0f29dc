"""Topic management on the embedded broker: created with their configs when Tierline manages
them, untouched when the deployment does."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tierline_shared.bus.kafka import KafkaClient, ensure_topics
from tierline_shared.bus.topics import Topics
from tierline_shared.embedded import EmbeddedKafka

pytestmark = [pytest.mark.kafka]


async def existing(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_managed_topics_are_created_with_their_configs(kafka: EmbeddedKafka) -> None:
    topics = Topics(f"t{uuid.uuid4().hex[:8]}")
    client = KafkaClient(kafka.bootstrap_servers, topic_configs=topics.configs(1))
    await ensure_topics(client, topics.all(), partitions=2, replication_factor=1)
    assert set(topics.all()) <= await existing(kafka.bootstrap_servers)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        async def configs(topic: str) -> dict[str, str]:
            described = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)])
            return {e[0]: e[1] for r in described for res in r.resources for e in res[4]}

        replayed, other = await configs(topics.incidents), await configs(topics.interactions)
    finally:
        await admin.close()
    assert replayed.get("retention.ms") == "-1", replayed
    assert other.get("retention.ms") != "-1", other


async def test_unmanaged_topics_are_left_to_the_deployment(kafka: EmbeddedKafka) -> None:
    topics = Topics(f"t{uuid.uuid4().hex[:8]}")
    client = KafkaClient(kafka.bootstrap_servers, manage_topics=False)
    await ensure_topics(client, topics.all(), partitions=2, replication_factor=1)
    assert not set(topics.all()) & await existing(kafka.bootstrap_servers)
