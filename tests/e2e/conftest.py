"""Tierline's four services as real processes on the real broker and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Databases
from tierline_shared.auth.keys import generate
from tierline_shared.bus.topics import Topics
from tierline_shared.db import make_engine
from tierline_shared.devstack import ServiceProcesses, service_env, wait_ready
from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from tierline_shared.migrate import SERVICES
from tierline_shared.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

BIG_ROSTER = {
    f"agent-{n}": {"name": f"Agent {n}", "tier": 1 + n % 2,
                   "skills": {"general": 3, "network": 4, "software": 3, "hardware": 3,
                              "access": 3},
                   "channels": {"portal": 50, "chat": 10, "email": 50, "api": 50}}
    for n in range(4)
}


class Stack:
    def __init__(self, databases: Databases, bootstrap: str, log_dir: Path) -> None:
        self.database_url = databases.create()
        self.bootstrap = bootstrap
        self.topics = Topics(f"e2e{uuid.uuid4().hex[:10]}")
        # The admin key every test client sends; rate limits well above any test's load.
        self.api_key = generate().plaintext
        self.settings = Settings(
            database_url=self.database_url, kafka_bootstrap_servers=bootstrap,
            topic_prefix=self.topics.prefix, environment="test",
            bootstrap_admin_key=self.api_key, rate_limit_per_s=10_000, rate_limit_burst=10_000,
            outbox_poll_interval_s=0.2, consumer_retry_backoff_s=0.05,
            **{f"{s}_port": free_port() for s in SERVICES})
        # Nobody answers offers in most of these tests, which run for minutes: an hour keeps
        # the router from re-offering their work (the offer tests set their own timeout).
        self.procs = ServiceProcesses(
            env=service_env(self.settings, TIERLINE_ROUTER_OFFER_TIMEOUT_S="3600"),
            log_dir=log_dir)
        self.engine: AsyncEngine = make_engine(self.database_url, pool_size=2)

    def url(self, service: str) -> str:
        return self.settings.url_for(service)

    def client(self, service: str | None = None, *, key: str | None = None,
               **kwargs: Any) -> httpx.AsyncClient:
        """A client sending the stack's admin key (or ``key``), on ``service`` if named."""
        if service is not None:
            kwargs["base_url"] = self.url(service)
        return httpx.AsyncClient(headers={"X-API-Key": key or self.api_key}, **kwargs)

    def start(self, *services: str, ready: bool = True) -> None:
        for service in services or SERVICES:
            self.procs.start(service)
        path = "readyz" if ready else "healthz"
        self.wait(path, *(services or SERVICES))

    def wait(self, path: str, *services: str) -> None:
        wait_ready({s: self.url(s) for s in services}, timeout_s=60, procs=self.procs,
                   path=path)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def put_roster(self, roster: dict[str, dict[str, Any]] = BIG_ROSTER) -> None:
        async with self.client("router") as client:
            for agent_id, body in roster.items():
                (await client.put(f"/v1/agents/{agent_id}", json=body)).raise_for_status()

    async def stop(self) -> None:
        self.procs.stop_all()
        await self.engine.dispose()


def ticket(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "VPN keeps disconnecting",
        "description": "The VPN drops every few minutes since this morning",
        "requester": {"id": "u-1001", "name": "Ada", "email": "ada@example.com"},
        "channel": "portal", "impact": "medium", "urgency": "high",
    }
    body.update(overrides)
    return body


def counter(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` that carry ``labels`` (0 if none)."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(float(sample.value)
               for family in text_string_to_metric_families(exposition)
               for sample in family.samples
               if sample.name == name and
               all(sample.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture(scope="module")
async def stack(databases: Databases, kafka: EmbeddedKafka,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    s = Stack(databases, kafka.bootstrap_servers, tmp_path_factory.mktemp("logs"))
    s.start()
    await s.put_roster()
    yield s
    await s.stop()


@pytest.fixture
async def own_stack(databases: Databases, kafka: EmbeddedKafka,
                    tmp_path: Path) -> AsyncIterator[Stack]:
    """A stack of its own (not started), for tests that kill processes or the broker."""
    s = Stack(databases, kafka.bootstrap_servers, tmp_path)
    yield s
    await s.stop()


@pytest.fixture
async def own_pg_stack(kafka: EmbeddedKafka, tmp_path: Path) -> AsyncIterator[
        tuple[Stack, EmbeddedPostgres]]:
    """A stack of its own (not started) on a PostgreSQL server of its own, which the test
    may stop and start."""
    pg = EmbeddedPostgres(tmp_path / "pgdata", free_port(), fast_unsafe=True)
    pg.start()
    stack = Stack(Databases(pg.url()), kafka.bootstrap_servers, tmp_path)
    try:
        yield stack, pg
    finally:
        await stack.stop()
        pg.remove()
