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
