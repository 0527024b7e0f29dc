"""No pre-ping: a pooled connection PostgreSQL dropped costs one request a 503, not a 500,
or a consumer one retry, and the next request gets a fresh connection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import Databases
from tests.helpers import attach, offline_runtime
from tierline_router.app import SPEC, create_app
from tierline_shared.bus.consumer import is_transient
from tierline_shared.clock import FrozenClock
from tierline_shared.db import make_engine, make_sessionmaker

pytestmark = [pytest.mark.db]


async def test_a_dropped_pooled_connection_answers_503_then_the_next_request_works(
        databases: Databases) -> None:
    url = databases.create()  # a database of its own: the test kills every session on it
    runtime = offline_runtime(SPEC, url, FrozenClock(datetime(2026, 11, 30, tzinfo=UTC)))
    assert not runtime.engine.sync_engine.pool._pre_ping
    app = create_app(runtime.settings)
    key = attach(app, runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://router",
                                     headers={"X-API-Key": key}) as client:
            # Several pooled connections, all of which PostgreSQL then drops.
            answers = await asyncio.gather(*(client.get("/v1/agents") for _ in range(4)))
            assert [r.status_code for r in answers] == [200] * 4
            pooled = runtime.engine.sync_engine.pool.checkedin()
            assert pooled >= 2, pooled
            killer = make_engine(url)
            async with killer.connect() as conn:  # as a PostgreSQL restart would, for the pool
                killed = await conn.scalar(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            await killer.dispose()
            assert killed >= pooled
            dropped = await client.get("/v1/agents")
            assert dropped.status_code == 503, dropped.text
            assert dropped.json()["error"] == "service_unavailable"
            assert dropped.headers["Retry-After"] == "5"
            # The disconnect discarded the whole pool: no second request meets a dead one.
            answers = await asyncio.gather(*(client.get("/v1/agents") for _ in range(4)))
            assert [r.status_code for r in answers] == [200] * 4
    finally:
        await runtime.engine.dispose()


async def test_a_dropped_pooled_connection_is_an_outage_to_the_consumer_retry(
        databases: Databases) -> None:
    """What a consumer's transaction raises on a connection PostgreSQL dropped is transient
    (retried, never dead-lettered), and the retry gets a fresh connection."""
    url = databases.create(migrate=False)
    engine, killer = make_engine(url), make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions.begin() as session:  # leaves a connection in the pool
            await session.execute(text("SELECT 1"))
        async with killer.connect() as conn:
            killed = await conn.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        assert killed == 1
        with pytest.raises(Exception) as raised:
            async with sessions.begin() as session:
                await session.execute(text("SELECT 1"))
        assert is_transient(raised.value), repr(raised.value)
        async with sessions.begin() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_no_connection_free_in_time_answers_503_overloaded_not_500(
        databases: Databases) -> None:
    """Under a burst the pool may have no connection free within its timeout: that is an
    overload (503, retry soon), not an unexpected error, and a consumer retries it."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    runtime = offline_runtime(SPEC, databases.create(),
                              FrozenClock(datetime(2026, 11, 30, tzinfo=UTC)))
    await runtime.engine.dispose()
    runtime.engine = make_engine(runtime.settings.database_url, pool_size=1)
    runtime.engine.sync_engine.pool._timeout = 0.2
    runtime.sessions = make_sessionmaker(runtime.engine)
    app = create_app(runtime.settings)
    key = attach(app, runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    held = []
    try:
        for _ in range(2):  # both connections a pool_size of 1 allows, taken
            conn = await runtime.engine.connect()
            held.append(conn)
            await conn.execute(text("SELECT 1"))
        async with httpx.AsyncClient(transport=transport, base_url="http://router",
                                     headers={"X-API-Key": key}) as client:
            busy = await client.get("/v1/agents")
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"] == "service_unavailable"
        assert "overloaded" in busy.json()["detail"]
        assert busy.headers["Retry-After"] == "1"
        assert is_transient(PoolTimeout("no connection"))
    finally:
        for conn in held:
            await conn.close()
        await runtime.engine.dispose()
