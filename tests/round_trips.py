"""Round trips a service sends PostgreSQL, counted on its engine: every statement, BEGIN,
COMMIT and ROLLBACK (SQLAlchemy engine events), and the pool checkouts beside them (each one
pings the server first while ``pool_pre_ping`` is on). Used by the consumer tests and by
bench/consumer_throughput.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

KINDS = ("statements", "begin", "commit", "rollback")


@dataclass
class RoundTrips:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((*KINDS, "checkouts"), 0))

    def attach(self, engine: AsyncEngine) -> RoundTrips:
        sync = engine.sync_engine

        def bump(name: str) -> Any:
            def listener(*_: Any, **__: Any) -> None:
                self.counts[name] += 1
            return listener

        event.listen(sync, "before_cursor_execute", bump("statements"))
        for name in ("begin", "commit", "rollback"):
            event.listen(sync, name, bump(name))
        event.listen(sync.pool, "checkout", bump("checkouts"))
        return self

    @property
    def total(self) -> int:
        """Statements + BEGIN + COMMIT + ROLLBACK (checkouts apart)."""
        return sum(self.counts[k] for k in KINDS)

    def reset(self) -> None:
        for key in self.counts:
            self.counts[key] = 0
