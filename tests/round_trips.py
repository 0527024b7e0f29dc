"""Round trips a service sends PostgreSQL, counted on its engine: every statement, BEGIN,
COMMIT and ROLLBACK (SQLAlchemy engine events), and the pool checkouts beside them (each one
would ping the server first, three round trips, if the engine had ``pool_pre_ping``; Tierline's
has not). On asyncpg each counted item is one round trip (a statement whose prepared form is
cached; the first run of a statement also prepares it, one more, which steady-state counts
leave out by measuring a warmed-up path). BEGIN, COMMIT and ROLLBACK on a connection in
autocommit (a one-statement unit of work) are events SQLAlchemy still fires but the driver
never sends: they are not counted.

Attach it for good (the consumer tests, bench/consumer_throughput.py)::

    counter = RoundTrips().attach(engine)

or around the code being measured, keeping the statements' text::

    with RoundTrips(engine) as trips:
        await do_something()
    assert trips.total == 3, trips.summary()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

KINDS = ("statements", "begin", "commit", "rollback")
# SQLAlchemy's asyncpg pre-ping is BEGIN, ";" and ROLLBACK (a transaction so that
# pgbouncer's transaction mode sees it); it runs in the pool, outside the engine events.
PING_ROUND_TRIPS = 3


@dataclass
class RoundTrips:
    engine: AsyncEngine | None = None
    statements: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((*KINDS, "checkouts"), 0))

    def __post_init__(self) -> None:
        self._bumps = {kind: self._bump(kind) for kind in ("begin", "commit", "rollback",
                                                            "checkouts")}

    def attach(self, engine: AsyncEngine) -> RoundTrips:
        """Count on ``engine`` from now on (no detaching: for an engine the caller drops)."""
        self.engine = engine
        for target, name, fn in self._listeners():
            event.listen(target, name, fn)
        return self

    def __enter__(self) -> RoundTrips:
        assert self.engine is not None, "RoundTrips(engine) to use it as a context manager"
        return self.attach(self.engine)

    def __exit__(self, *exc: object) -> None:
        for target, name, fn in self._listeners():
            event.remove(target, name, fn)

    @property
    def begins(self) -> int:
        return self.counts["begin"]

    @property
    def commits(self) -> int:
        return self.counts["commit"]

    @property
    def rollbacks(self) -> int:
        return self.counts["rollback"]

    @property
    def checkouts(self) -> int:
        return self.counts["checkouts"]

    @property
    def pings(self) -> int:
        pool = self.engine.sync_engine.pool if self.engine is not None else None
        return self.checkouts if getattr(pool, "_pre_ping", False) else 0

    @property
    def total(self) -> int:
        """Statements, BEGIN, COMMIT and ROLLBACK, and three per pre-ping if any."""
        return sum(self.counts[k] for k in KINDS) + PING_ROUND_TRIPS * self.pings

    def reset(self) -> None:
        self.statements.clear()
        for key in self.counts:
            self.counts[key] = 0

    def summary(self) -> str:
        return (f"{self.total} round trips: {self.counts['statements']} statements, "
                f"{self.begins} BEGIN, {self.commits} COMMIT, {self.rollbacks} ROLLBACK, "
                f"{self.pings} pre-pings")

    def _listeners(self) -> list[tuple[Any, str, Any]]:
        assert self.engine is not None
        sync = self.engine.sync_engine
        return [(sync, "before_cursor_execute", self._statement),
                *((sync, kind, self._bumps[kind]) for kind in ("begin", "commit", "rollback")),
                (sync.pool, "checkout", self._bumps["checkouts"])]

    def _bump(self, kind: str) -> Any:
        def listener(conn: Any = None, *_: Any, **__: Any) -> None:
            if kind != "checkouts" and _autocommit(conn):
                return  # nothing sent: asyncpg in autocommit has no transaction to end
            self.counts[kind] += 1
        return listener

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.counts["statements"] += 1
        self.statements.append(" ".join(statement.split()))


def _autocommit(conn: Any) -> bool:
    dbapi = getattr(getattr(conn, "connection", None), "dbapi_connection", None)
    return bool(getattr(dbapi, "autocommit", False))
