"""Alembic migrations, one environment and one schema per service."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

SERVICES = ("intake", "router", "sla", "metrics")
# API keys are shared infrastructure, not a service's: their ``auth`` schema is migrated
# first, alongside the services' own.
SCHEMAS = ("auth", *SERVICES)


def alembic_config(service: str, database_url: str) -> Config:
    if service not in SCHEMAS:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SCHEMAS)}")
    config = Config()
    location = "tierline_shared.auth:migrations" if service == "auth" \
        else f"tierline_{service}:migrations"
    config.set_main_option("script_location", location)
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = service
    return config


def upgrade(database_url: str, services: tuple[str, ...] = SCHEMAS,
            revision: str = "head") -> None:
    """Bring each service's schema to ``revision``. Blocking: call it outside an event loop."""
    for service in services:
        command.upgrade(alembic_config(service, database_url), revision)


def pending(database_url: str, services: tuple[str, ...] = SCHEMAS) -> list[str]:
    """The schemas not at their newest revision (missing counts as behind)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import DBAPIError

    async def current() -> dict[str, str | None]:
        engine = create_async_engine(database_url)
        found: dict[str, str | None] = {}
        try:
            async with engine.connect() as conn:
                for service in services:
                    try:
                        found[service] = await conn.scalar(
                            text(f'SELECT version_num FROM "{service}".alembic_version'))
                    except DBAPIError:
                        await conn.rollback()
                        found[service] = None
        finally:
            await engine.dispose()
        return found

    versions = asyncio.run(current())
    return [service for service in services if versions[service] != ScriptDirectory
            .from_config(alembic_config(service, database_url)).get_current_head()]


def wait_migrated(database_url: str, timeout_s: float, services: tuple[str, ...] = SCHEMAS,
                  interval_s: float = 2.0) -> list[str]:
    """Wait until every schema is at its newest revision (a release's migration Job ran);
    returns those still behind after ``timeout_s`` (empty: ready). Migrates nothing."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            behind = pending(database_url, services)
        except (OSError, ConnectionError) as exc:  # the database is not up yet
            behind = [f"database unreachable: {exc}"]
        if not behind or time.monotonic() >= deadline:
            return behind
        time.sleep(interval_s)


def run_migrations(context: Any, metadata: MetaData) -> None:
    """Body of every service's ``env.py``: online migrations on the async engine."""
    schema = context.config.attributes["schema"]
    url = context.config.attributes["database_url"]

    def migrate(connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": zlib.crc32(f"migrate:{schema}".encode())})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
            transaction_per_migration=False,
        )
        context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(main())
