"""When the write-back job tries again, and when it leaves a desk alone: pure.

- A failed try waits ``base x 2^(n-1)`` seconds, at most ten minutes, with jitter (a random
  half to full of that), so many write-backs that failed together do not return together.
- A ``429`` is the desk pacing us: the whole connection waits ``Retry-After`` (seconds or an
  HTTP date), the try does not count against the write-back, and then one write-back at a
  time goes until one succeeds.
- After ``CIRCUIT_THRESHOLD`` failures in a row a connection's circuit opens: nothing is sent
  to it until the cool-down passes, then one write-back probes it (half-open); a success
  closes it, a failure opens it again for twice as long (at most ``MAX_COOL_DOWN``).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

MAX_DELAY = timedelta(minutes=10)
CIRCUIT_THRESHOLD = 5
MAX_COOL_DOWN = timedelta(seconds=30)
DEFAULT_RETRY_AFTER = timedelta(seconds=30)


def retry_delay(attempts: int, base_s: float, rnd: random.Random | None = None) -> timedelta:
    full = min(timedelta(seconds=base_s * 2 ** (attempts - 1)), MAX_DELAY)
    return full * (0.5 + (rnd or random).random() / 2)


def retry_after(header: str | None, now: datetime) -> timedelta:
    """The wait a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if not header:
        return DEFAULT_RETRY_AFTER
    header = header.strip()
    if header.isdigit():
        return min(timedelta(seconds=int(header)), MAX_DELAY)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return min(max(when - now, timedelta(0)), MAX_DELAY)


def cool_down(failures: int, base_s: float) -> timedelta | None:
    """How long the circuit stays open after ``failures`` failures in a row (None: closed)."""
    if failures < CIRCUIT_THRESHOLD:
        return None
    return min(timedelta(seconds=base_s * 2 ** min(failures - CIRCUIT_THRESHOLD, 20)),
               MAX_COOL_DOWN)


def half_open(failures: int, paused_until: datetime | None = None) -> bool:
    """Whether the connection may take only one probe at a time: its circuit opened, or it
    was paused (a 429, an open circuit) and no try has succeeded since."""
    return failures >= CIRCUIT_THRESHOLD or paused_until is not None


def after_attempt(attempts: int, max_attempts: int, ok: bool) -> str:
    if ok:
        return "delivered"
    return "dead" if attempts >= max_attempts else "pending"
