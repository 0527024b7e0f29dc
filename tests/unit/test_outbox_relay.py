"""The outbox relay's retry loop, without a broker or a database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import MetaData

from tierline_shared.bus import outbox as outbox_module
from tierline_shared.bus.outbox import OutboxRelay
from tierline_shared.db import bus_tables


async def test_commits_do_not_cut_the_backoff_short_while_the_broker_is_away(
        monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = 0

    async def broker_away(*args: Any, **kwargs: Any) -> None:
        nonlocal attempts
        attempts += 1
        raise OSError("connection refused")

    monkeypatch.setattr(outbox_module, "ensure_topics", broker_away)
    table, _ = bus_tables(MetaData(schema="relaytest"))
    relay = OutboxRelay(sessions=None, engine=None, outbox=table,  # type: ignore[arg-type]
                        bootstrap_servers="127.0.0.1:9", topics=["t"], partitions=1,
                        replication_factor=1, poll_interval_s=0.05)
    running = asyncio.create_task(relay.run())
    for _ in range(100):  # a commit every 10 ms, as under load, for at least a second
        relay.notify()
        await asyncio.sleep(0.01)
    await relay.stop()
    await asyncio.wait_for(running, 10)
    # Woken by each commit it made about one attempt per commit, a hundred. Backing off
    # (0.2, 0.4, 0.8 ... 5 s) it makes four in the second this takes; ten would take 31 s.
    assert 1 <= attempts <= 10, attempts
