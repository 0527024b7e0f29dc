"""Per-key token buckets, pure: the caller passes the time."""

from __future__ import annotations

from dataclasses import dataclass, field


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
