"""The cluster-wide buckets lease tokens in blocks: one lease serves a block of requests,
concurrent requests of one key share one lease, a refusal says when to retry. (The
database side, and two processes sharing a key, are in tests/integration/test_rate_limit.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

from tierline_shared.auth.limits import SharedBuckets


class Bucket(SharedBuckets):
    """The lease statement replaced by a bucket in memory that never refills."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        super().__init__(engine=None, rate_per_s=rate_per_s, burst=burst)  # type: ignore[arg-type]
        self.tokens = float(burst)
        self.leases = 0

    async def _lease(self, key: str) -> tuple[int, float]:
        self.leases += 1
        await asyncio.sleep(0.001)  # a round trip: other requests arrive meanwhile
        granted = int(min(self.block, self.tokens // 1))
        refilled, self.tokens = self.tokens, self.tokens - granted
        return granted, refilled


def test_a_lease_is_a_tenth_of_a_second_of_the_rate_within_one_and_the_burst() -> None:
    assert Bucket(100, 200).block == 10
    assert Bucket(0.01, 3).block == 1
    assert Bucket(10_000, 200).block == 200


async def test_one_lease_serves_a_block_and_concurrent_requests_share_it() -> None:
    bucket = Bucket(100, 25)  # blocks of 10
    waits: list[Any] = await asyncio.gather(*(bucket.take("k") for _ in range(25)))
    assert waits == [0.0] * 25
    assert bucket.leases == 3  # 10 + 10 + 5, not 25 statements
    refused = await bucket.take("k")
    assert refused == (1 - 0) / 100  # empty: one token away at 100/s
    assert bucket.leases == 4


async def test_keys_lease_apart() -> None:
    bucket = Bucket(100, 20)
    assert await bucket.take("a") == 0.0
    assert await bucket.take("b") == 0.0
    assert bucket.leases == 2
