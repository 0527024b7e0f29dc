"""Each service's migrations build exactly the tables its models describe."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from tierline_shared.db import make_engine
from tierline_shared.migrate import SCHEMAS

pytestmark = [pytest.mark.db]


@pytest.mark.parametrize("service", SCHEMAS)
async def test_migrations_match_the_models(database_url: str, service: str) -> None:
    module = "tierline_shared.auth.models" if service == "auth" else f"tierline_{service}.models"
    metadata: MetaData = importlib.import_module(module).metadata

    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={
            "include_schemas": True,
            "include_name": lambda name, kind, parent: kind != "schema" or name == service,
            "compare_server_default": False,
        })
        return [d for d in compare_metadata(context, metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table"
                        and d[1].name == "alembic_version")]

    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == [], f"{service}: migrations and models differ: {differences}"
