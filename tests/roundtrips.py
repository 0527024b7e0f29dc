"""Count what an engine sends PostgreSQL: statements, BEGIN, COMMIT, ROLLBACK, pre-pings.

On asyncpg each of these is one round trip (a statement whose prepared form is cached;
the first run of a statement also prepares it, one more round trip, which steady-state
counts leave out by measuring a warmed-up path). Use it as a context manager around the
code being measured::

    with RoundTrips(engine) as trips:
        await do_something()
    assert trips.total == 3, trips
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# SQLAlchemy's asyncpg pre-ping is BEGIN, ";" and ROLLBACK (a transaction so that
# pgbouncer's transaction mode sees it); it runs in the pool, outside the engine events.
PING_ROUND_TRIPS = 3


@dataclass
class RoundTrips:
    engine: AsyncEngine
    statements: list[str] = field(default_factory=list)
    begins: int = 0
    commits: int = 0
    rollbacks: int = 0
    checkouts: int = 0

    @property
    def pings(self) -> int:
        # The pool pings on each checkout when the engine was made with pool_pre_ping.
        return self.checkouts if self.engine.sync_engine.pool._pre_ping else 0

    @property
    def total(self) -> int:
        return (len(self.statements) + self.begins + self.commits + self.rollbacks
                + PING_ROUND_TRIPS * self.pings)

    def reset(self) -> None:
        self.statements.clear()
        self.begins = self.commits = self.rollbacks = self.checkouts = 0

    def summary(self) -> str:
        return (f"{self.total} round trips: {len(self.statements)} statements, "
                f"{self.begins} BEGIN, {self.commits} COMMIT, {self.rollbacks} ROLLBACK, "
                f"{self.pings} pre-pings")

    def __enter__(self) -> RoundTrips:
        self._listeners = [
            (self.engine.sync_engine, "before_cursor_execute", self._statement),
            (self.engine.sync_engine, "begin", self._begin),
            (self.engine.sync_engine, "commit", self._commit),
            (self.engine.sync_engine, "rollback", self._rollback),
            (self.engine.sync_engine.pool, "checkout", self._checkout),
        ]
        for target, name, fn in self._listeners:
            event.listen(target, name, fn)
        return self

    def __exit__(self, *exc: object) -> None:
        for target, name, fn in self._listeners:
            event.remove(target, name, fn)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(" ".join(statement.split()))

    def _begin(self, conn: Any) -> None:
        self.begins += 1

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def _rollback(self, conn: Any) -> None:
        self.rollbacks += 1

    def _checkout(self, *args: Any) -> None:
        self.checkouts += 1
