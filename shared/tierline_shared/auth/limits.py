"""Per-key token buckets: in one process (pure, the caller passes the time), or shared by
every process of the cluster through one PostgreSQL row per key."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class TokenBuckets:
    rate_per_s: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, now: float) -> float:
        """0 if ``key`` may make a request at ``now``, else how many seconds until it may."""
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate_per_s)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate_per_s


# One statement: refill by the time since the last request (the database's clock, read
# once the row is locked, so replicas' clocks never disagree), take a token if there is
# one, say whether it did.
_REFILLED = ("LEAST(CAST(:burst AS double precision), b.tokens + GREATEST(0, CAST("
             "EXTRACT(EPOCH FROM clock_timestamp() - b.at) AS double precision))"
             " * CAST(:rate AS double precision))")
_TAKE = text(f"""
INSERT INTO auth.rate_buckets AS b (key_id, tokens, at, allowed)
VALUES (:key, CAST(:burst AS double precision) - 1, clock_timestamp(), true)
ON CONFLICT (key_id) DO UPDATE SET
    tokens = {_REFILLED} - CASE WHEN {_REFILLED} >= 1 THEN 1 ELSE 0 END,
    allowed = {_REFILLED} >= 1,
    at = clock_timestamp()
RETURNING b.tokens, b.allowed
""")


@dataclass
class SharedBuckets:
    """The same buckets kept in PostgreSQL, so a key's allowance is the same however many
    replicas serve it. Costs one statement per request: it runs in autocommit, with no
    BEGIN and COMMIT around it (the statement is its own transaction)."""

    engine: AsyncEngine
    rate_per_s: float
    burst: int

    async def take(self, key: str) -> float:
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            tokens, allowed = (await conn.execute(_TAKE, {
                "key": key, "burst": self.burst, "rate": self.rate_per_s})).one()
        return 0.0 if allowed else (1 - tokens) / self.rate_per_s
