"""Per-key token buckets: in one process (pure, the caller passes the time), or shared by
every process of the cluster through one PostgreSQL row per key."""

from __future__ import annotations

import asyncio
import math
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


# One statement leases up to :want tokens: it locks the key's row, refills it by the time
# since it was last drawn on (the database's clock, read once the row is locked, never
# moved backwards, so replicas' clocks never disagree and no interval is refilled twice),
# takes what it grants, and says what it granted and what the bucket held. A key's first
# lease creates its row first (_CREATE), full.
_LEASE = text("""
WITH o AS (
    SELECT key_id, tokens, at, clock_timestamp() AS now
    FROM auth.rate_buckets WHERE key_id = :key FOR UPDATE
), r AS (
    SELECT key_id, GREATEST(at, now) AS now,
           LEAST(CAST(:burst AS double precision), tokens + GREATEST(0, CAST(
               EXTRACT(EPOCH FROM now - at) AS double precision))
               * CAST(:rate AS double precision)) AS refilled
    FROM o
)
UPDATE auth.rate_buckets AS b
SET tokens = r.refilled - LEAST(CAST(:want AS double precision), FLOOR(r.refilled)),
    allowed = r.refilled >= 1,
    at = r.now
FROM r WHERE b.key_id = r.key_id
RETURNING LEAST(CAST(:want AS double precision), FLOOR(r.refilled)) AS granted, r.refilled
""")
_CREATE = text("""
INSERT INTO auth.rate_buckets (key_id, tokens, at, allowed)
VALUES (:key, CAST(:burst AS double precision), clock_timestamp(), true)
ON CONFLICT (key_id) DO NOTHING
""")

# A lease is a tenth of a second of the key's rate (at least one token, at most its burst):
# at 100 requests/s one statement serves ten requests.
LEASE_S = 0.1


@dataclass
class SharedBuckets:
    """The same buckets kept in PostgreSQL, so a key's allowance is the same however many
    replicas serve it. A process leases tokens from the key's bucket in blocks
    (``block``: ``LEASE_S`` of the rate) and spends them locally, so most requests send
    nothing; one statement in autocommit (its own transaction) fetches the next block.

    The allowance holds across replicas with a bounded overshoot: in any interval of T
    seconds the bucket grants at most ``burst + rate * T`` tokens, and requests admitted in
    it spend those or tokens leased earlier and still held, at most one block per process.
    So with P processes at most ``burst + rate * T + P * block`` requests get through (one
    block is a tenth of a second of the rate). Tokens a process holds but never spends are
    lost to the others, so a key may get slightly less than its allowance, never more than
    that bound."""

    engine: AsyncEngine
    rate_per_s: float
    burst: int
    _held: dict[str, int] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    @property
    def block(self) -> int:
        return max(1, min(self.burst, math.floor(self.rate_per_s * LEASE_S)))

    async def take(self, key: str) -> float:
        """0 if ``key`` may make a request now, else how many seconds until it may."""
        if self._held.get(key, 0) > 0:
            self._held[key] -= 1
            return 0.0
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one lease at a time per key; the others wait and share it
            if self._held.get(key, 0) > 0:
                self._held[key] -= 1
                return 0.0
            granted, refilled = await self._lease(key)
            if granted < 1:
                return (1 - refilled) / self.rate_per_s
            self._held[key] = granted - 1
            return 0.0

    async def _lease(self, key: str) -> tuple[int, float]:
        params = {"key": key, "burst": self.burst, "rate": self.rate_per_s,
                  "want": self.block}
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            row = (await conn.execute(_LEASE, params)).first()
            if row is None:
                await conn.execute(_CREATE, params)
                row = (await conn.execute(_LEASE, params)).one()
        return int(row.granted), float(row.refilled)
