"""PostgreSQL's binary ``COPY`` format for the two row shapes the rebuild streams from its
replay workers: the ticket log and the inbox. Pure: rows in, bytes out. A stream is
``HEADER``, any number of encoded rows (from any process, in any grouping), ``TRAILER``
(https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format")."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from uuid import UUID

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, no extension
TRAILER = struct.pack(">h", -1)

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # timestamptz counts microseconds from here
_MICROSECOND = timedelta(microseconds=1)


def timestamptz(at: datetime) -> int:
    """``at`` (timezone-aware) as PostgreSQL's binary timestamptz: microseconds since 2000."""
    if at.tzinfo is None:
        raise ValueError(f"{at!r} has no time zone")
    return (at - _EPOCH) // _MICROSECOND


def log_row(event_id: UUID, ticket_id: UUID, event_type: str, at: datetime, body: bytes
            ) -> bytes:
    """A ``ticket_log`` row: event_id uuid, ticket_id uuid, event_type text, at timestamptz,
    body json (``body``, the event's JSON as published, is json's binary form as it is)."""
    kind = event_type.encode()
    return struct.pack(f">hi16si16si{len(kind)}siqi", 5, 16, event_id.bytes, 16,
                       ticket_id.bytes, len(kind), kind, 8, timestamptz(at),
                       len(body)) + body


def inbox_row(event_id: UUID, event_type: str, topic: str) -> bytes:
    """An inbox (``processed_events``) row: event_id uuid, event_type text, topic text."""
    kind, name = event_type.encode(), topic.encode()
    return struct.pack(f">hi16si{len(kind)}si{len(name)}s", 3, 16, event_id.bytes,
                       len(kind), kind, len(name), name)
