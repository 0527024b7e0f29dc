"""Database URLs as consoles hand them out are accepted and run on asyncpg."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tierline_shared.settings import Settings


@pytest.mark.parametrize("given", [
    "postgresql://app:pw@db.example:5432/tierline?sslmode=require",
    "postgres://app:pw@db.example:5432/tierline?sslmode=require",
    "postgresql+asyncpg://app:pw@db.example:5432/tierline?ssl=require",
])
def test_postgres_urls_are_normalised_to_asyncpg(given: str) -> None:
    assert Settings(database_url=given).database_url == (
        "postgresql+asyncpg://app:pw@db.example:5432/tierline?ssl=require")


@pytest.mark.parametrize("given", ["postgresql+psycopg://app@db/t", "mysql://app@db/t", "db"])
def test_other_drivers_are_refused_naming_the_field(given: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(database_url=given)
    assert error.value.errors()[0]["loc"] == ("database_url",)
    assert "postgresql://" in str(error.value)


@pytest.mark.db
async def test_a_console_url_connects(database_url: str) -> None:
    """The test server's URL as a console would print it (postgres://, sslmode=disable)."""
    from sqlalchemy import text

    from tierline_shared.db import make_engine

    given = database_url.replace("postgresql+asyncpg://", "postgres://") + "?sslmode=disable"
    engine = make_engine(Settings(database_url=given).database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()
