"""Connecting to the broker: one client configuration (address, TLS, SASL) shared by every
producer, consumer and admin client, topic creation, and a producer that survives outages."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context

if TYPE_CHECKING:
    from tierline_shared.settings import Settings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


class FileToken(AbstractTokenProvider):
    """An OAUTHBEARER token read from a file at each (re)connection: a sidecar or a
    projected service-account token keeps the file fresh, so nothing here expires it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def token(self) -> str:
        return self.path.read_text().strip()


@dataclass(frozen=True)
class KafkaClient:
    """Where the broker is and how to authenticate; ``kwargs()`` for any aiokafka client.

    ``manage_topics`` off: the deployment owns the topics (Strimzi ``KafkaTopic``, Terraform,
    ACLs without CREATE) and nobody creates any at start."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    sasl_oauth_token_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: str | None = None
    ssl_check_hostname: bool = True
    manage_topics: bool = True
    topic_configs: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, topic_configs: dict[str, dict[str, str]]
                      | None = None) -> KafkaClient:
        def secret(value: Any) -> str | None:
            return None if value is None else value.get_secret_value()

        return cls(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=secret(settings.kafka_sasl_password),
            sasl_oauth_token_file=settings.kafka_sasl_oauth_token_file,
            ssl_cafile=settings.kafka_ssl_cafile, ssl_certfile=settings.kafka_ssl_certfile,
            ssl_keyfile=settings.kafka_ssl_keyfile,
            ssl_key_password=secret(settings.kafka_ssl_key_password),
            ssl_check_hostname=settings.kafka_ssl_check_hostname,
            manage_topics=settings.kafka_manage_topics,
            topic_configs=topic_configs or {})

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        context = create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile,
                                     keyfile=self.ssl_keyfile, password=self.ssl_key_password)
        context.check_hostname = self.ssl_check_hostname
        return context

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        out: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                               "security_protocol": self.security_protocol}
        context = self.ssl_context()
        if context is not None:
            out["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            out["sasl_mechanism"] = self.sasl_mechanism
            if self.sasl_mechanism == "OAUTHBEARER":
                assert self.sasl_oauth_token_file is not None
                out["sasl_oauth_token_provider"] = FileToken(self.sasl_oauth_token_file)
            else:
                out["sasl_plain_username"] = self.sasl_username
                out["sasl_plain_password"] = self.sasl_password
        return out


Target = KafkaClient | str  # a bare address: PLAINTEXT, topics managed (tests, tools)


def client(target: Target) -> KafkaClient:
    return target if isinstance(target, KafkaClient) else KafkaClient(target)


async def ensure_topics(
    target: Target, names: list[str], *, partitions: int, replication_factor: int
) -> None:
    """Create the topics that do not exist yet, with their configs; an existing topic is
    left as it is. Nothing at all when the deployment manages its topics."""
    kafka = client(target)
    if not kafka.manage_topics:
        return
    admin = AIOKafkaAdminClient(**kafka.kwargs(), request_timeout_ms=5000)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                      topic_configs=kafka.topic_configs.get(name, {}))
             for name in names]
        )
        for name, code, message in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise KafkaError(f"creating topic {name} failed: {code} {message}")
    finally:
        await admin.close()


def make_producer(target: Target, *, max_batch_size: int = 16384) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client(target).kwargs(),
        acks="all",
        linger_ms=0,
        max_batch_size=max_batch_size,
        request_timeout_ms=10000,
        retry_backoff_ms=200,
    )


def make_consumer(target: Target, *topics: str, **options: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **client(target).kwargs(), **options)
