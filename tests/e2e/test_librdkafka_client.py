"""A chat or IVR front on librdkafka (Go, Node, Java, .NET clients share it), here through
confluent-kafka: what it publishes on the interactions topic is read back through intake's
API. The embedded broker answers librdkafka 2.16's ApiVersions request (2.0.2, Debian's
kcat, fails it); production Kafka has no such limit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import confluent_kafka
import pytest

from tests.e2e.channels_stack import intake_fixture  # noqa: F401
from tests.e2e.conftest import Stack
from tests.helpers import eventually
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import InteractionOccurred

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


def publish(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes, list]]) -> int:
    """Publish with librdkafka (acks=all, idempotence off: the front's own choice) and
    return how many the broker acknowledged."""
    acknowledged: list[Any] = []
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                         "enable.idempotence": False})
    for key, value, headers in messages:
        producer.produce(topic, key=key, value=value, headers=headers,
                         on_delivery=lambda err, msg: acknowledged.append(err))
    producer.flush(30)
    assert all(err is None for err in acknowledged), acknowledged
    return len(acknowledged)


def interaction(**fields: Any) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    event = InteractionOccurred(occurred_at=datetime.now(UTC), **fields)
    env = Envelope.wrap(event, source="/fronts/ivr-go", time=datetime.now(UTC))
    return env.key, env.body(), env.headers()


async def test_an_interaction_published_with_librdkafka_is_read_back_through_intake(
        intake: Stack) -> None:
    major, minor = (int(part) for part in confluent_kafka.libversion()[0].split(".")[:2])
    assert (major, minor) >= (2, 16)
    call, customer = f"call-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    sent = await asyncio.to_thread(publish, intake.bootstrap, intake.topics.interactions, [
        interaction(interaction_id=call, kind="contact_started", channel="ivr",
                    customer_id=customer),
        interaction(interaction_id=call, kind="message", author="customer",
                    text="My laptop will not connect to the VPN"),
        interaction(interaction_id=call, kind="contact_ended"),
    ])
    assert sent == 3

    async def ended() -> Any:
        async with intake.client("intake") as client:
            r = await client.get(f"/v1/interactions/{call}")
        return r.json() if r.status_code == 200 and r.json()["status"] == "ended" else None

    detail = await eventually(ended, timeout=30, what="the contact read back through intake")
    assert [h["kind"] for h in detail["history"]] == ["contact_started", "message",
                                                      "contact_ended"]
    assert detail["customer_id"] == customer and detail["ticket_id"] is not None
