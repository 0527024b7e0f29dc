"""The outbox relay's retry loop, without a broker or a database, and without the wall
clock: its backoff pause is replaced by one the test releases step by step."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import MetaData

from tests.helpers import eventually
from tierline_shared.bus import outbox as outbox_module
from tierline_shared.bus.outbox import OutboxRelay
from tierline_shared.db import bus_tables


async def test_commits_do_not_cut_the_backoff_short_while_the_broker_is_away(
        monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = 0
    pauses: list[float] = []
    release = asyncio.Queue[None]()

    async def broker_away(*args: Any, **kwargs: Any) -> None:
        nonlocal attempts
        attempts += 1
        raise OSError("connection refused")

    async def pause(stopping: asyncio.Event, seconds: float) -> None:
        pauses.append(seconds)
        if not stopping.is_set():
            await release.get()

    monkeypatch.setattr(outbox_module, "ensure_topics", broker_away)
    monkeypatch.setattr(outbox_module, "backoff_pause", pause)
    table, _ = bus_tables(MetaData(schema="relaytest"))
    relay = OutboxRelay(sessions=None, engine=None, outbox=table,  # type: ignore[arg-type]
                        bootstrap_servers="127.0.0.1:9", topics=["t"], partitions=1,
                        replication_factor=1, poll_interval_s=0.05)
    running = asyncio.create_task(relay.run())

    async def paused(n: int) -> bool:
        return len(pauses) == n

    await eventually(lambda: paused(1), what="the first backoff")
    for _ in range(100):  # a commit after each of a hundred requests, as under load
        relay.notify()
        await asyncio.sleep(0)
    assert (attempts, len(pauses)) == (1, 1)  # no commit woke it out of its backoff
    for n in range(2, 8):
        release.put_nowait(None)
        await eventually(lambda n=n: paused(n), what=f"backoff {n}")
    assert attempts == 7
    assert pauses == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]  # doubling, capped at 5 s
    await relay.stop()
    release.put_nowait(None)
    await asyncio.wait_for(running, 10)
